from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from webpanel.validation import strip

# label and help text of each option, as the help page words them
OPTION_HELP = {
    "allow_us_canada_ld": "Check this box if you would like the ability to call the Continental US and Canada.",
    "allow_international_ld": "Check this box if you would like the ability to call Internationally.",
    "allow_incoming_800": "Check this box if you would like the ability to receive incoming toll free calls.",
    "voicemail_enabled": "Check this box if you would like to enable your voicemail.",
    "white_pages": "Check this box if you would like to be listed in our Member White Pages Directory.",
    "no_email_updates": "Check this box if you would not like to receive email updates on features, "
                        "products and other information on our VoIP service.",
    "mpo": "Checking this box may improve connection strength if you are experiencing latency or "
           "dropped calls. The default is unchecked.",
}


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    number = StringField("Search by Virtual Number", [DataRequired(), Length(max=20)], filters=[strip],
                         render_kw={"inputmode": "numeric", "autocomplete": "off"})


class OptionsForm(FlaskForm):
    allow_us_canada_ld = BooleanField("Allow Continental US and Canada LD")
    allow_international_ld = BooleanField("Allow International LD")
    allow_incoming_800 = BooleanField("Allow Incoming 800 Calls")
    voicemail_enabled = BooleanField("Enable VM")
    white_pages = BooleanField("Include in White Pages")
    no_email_updates = BooleanField("Do not send email updates")
    mpo = BooleanField("MPO - Media Path Optimization")


class VmPasswordForm(FlaskForm):
    vm_password = PasswordField("New VM Password", [
        DataRequired("Enter the new voicemail password."),
        Regexp(r"^\d{4,10}$", message="A voicemail password is 4 to 10 digits (it is typed on a phone keypad).")],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password"})
    vm_password_confirm = PasswordField("Retype VM Password", [
        DataRequired("Retype the new voicemail password."),
        EqualTo("vm_password", "The two voicemail passwords do not match.")],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password"})


class SipPasswordForm(FlaskForm):
    sip_password = PasswordField("New SIP Password", [Optional(), Length(max=64)],
                                 render_kw={"autocomplete": "new-password"})
    sip_password_confirm = PasswordField("Retype SIP Password", [Optional(), Length(max=64)],
                                         render_kw={"autocomplete": "new-password"})
    set_password = SubmitField("Set SIP Password")
    generate = SubmitField("Generate strong password")

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self.generate.data:
            return True
        if not self.sip_password.data:
            self.sip_password.errors.append("Enter a SIP password, or click Generate strong password.")
            return False
        if self.sip_password.data != self.sip_password_confirm.data:
            self.sip_password_confirm.errors.append("The two SIP passwords do not match.")
            return False
        return True


class PinForm(FlaskForm):
    pin = PasswordField("New PIN Number", [
        DataRequired("Enter the new PIN."),
        Regexp(r"^\d{4,10}$", message="A PIN is 4 to 10 digits.")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"})
    pin_confirm = PasswordField("Retype PIN Number", [
        DataRequired("Retype the new PIN."), EqualTo("pin", "The two PINs do not match.")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"})


class AddNumberForm(FlaskForm):
    new_number = StringField("New virtual number", [
        DataRequired("Enter the virtual number to add."),
        Regexp(r"^\d{4,15}$", message="A virtual number is 4 to 15 digits, nothing else.")],
        filters=[strip], render_kw={"inputmode": "numeric", "autocomplete": "off"})
    new_name = StringField("Name", [Length(max=80)], filters=[strip])
