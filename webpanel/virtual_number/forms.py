from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip

# label and help text of each option, as the help page words them
OPTION_HELP = {
    "allow_us_canada_ld": _l(
        "Check this box if you would like the ability to call the Continental US and Canada."
    ),
    "allow_international_ld": _l("Check this box if you would like the ability to call Internationally."),
    "allow_incoming_800": _l(
        "Check this box if you would like the ability to receive incoming toll free calls."
    ),
    "voicemail_enabled": _l("Check this box if you would like to enable your voicemail."),
    "white_pages": _l("Check this box if you would like to be listed in our Member White Pages Directory."),
    "no_email_updates": _l(
        "Check this box if you would not like to receive email updates on features, "
        "products and other information on our VoIP service."
    ),
    "mpo": _l(
        "Checking this box may improve connection strength if you are experiencing latency or "
        "dropped calls. The default is unchecked."
    ),
}


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    number = StringField(
        _l("Search by Virtual Number"),
        [DataRequired(), Length(max=20)],
        filters=[strip],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )


class OptionsForm(FlaskForm):
    allow_us_canada_ld = BooleanField(_l("Allow Continental US and Canada LD"))
    allow_international_ld = BooleanField(_l("Allow International LD"))
    allow_incoming_800 = BooleanField(_l("Allow Incoming 800 Calls"))
    voicemail_enabled = BooleanField(_l("Enable VM"))
    white_pages = BooleanField(_l("Include in White Pages"))
    no_email_updates = BooleanField(_l("Do not send email updates"))
    mpo = BooleanField(_l("MPO - Media Path Optimization"))


class VmPasswordForm(FlaskForm):
    vm_password = PasswordField(
        _l("New VM Password"),
        [
            DataRequired(_l("Enter the new voicemail password.")),
            Regexp(
                r"^\d{4,10}$",
                message=_l("A voicemail password is 4 to 10 digits (it is typed on a phone keypad)."),
            ),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password"},
    )
    vm_password_confirm = PasswordField(
        _l("Retype VM Password"),
        [
            DataRequired(_l("Retype the new voicemail password.")),
            EqualTo("vm_password", _l("The two voicemail passwords do not match.")),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password"},
    )


class SipPasswordForm(FlaskForm):
    sip_password = PasswordField(
        _l("New SIP Password"), [Optional(), Length(max=64)], render_kw={"autocomplete": "new-password"}
    )
    sip_password_confirm = PasswordField(
        _l("Retype SIP Password"), [Optional(), Length(max=64)], render_kw={"autocomplete": "new-password"}
    )
    set_password = SubmitField(_l("Set SIP Password"))
    generate = SubmitField(_l("Generate strong password"))

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self.generate.data:
            return True
        if not self.sip_password.data:
            self.sip_password.errors.append(_("Enter a SIP password, or click Generate strong password."))
            return False
        if self.sip_password.data != self.sip_password_confirm.data:
            self.sip_password_confirm.errors.append(_("The two SIP passwords do not match."))
            return False
        return True


class PinForm(FlaskForm):
    pin = PasswordField(
        _l("New PIN Number"),
        [
            DataRequired(_l("Enter the new PIN.")),
            Regexp(r"^\d{4,10}$", message=_l("A PIN is 4 to 10 digits.")),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    pin_confirm = PasswordField(
        _l("Retype PIN Number"),
        [DataRequired(_l("Retype the new PIN.")), EqualTo("pin", _l("The two PINs do not match."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )


class AddNumberForm(FlaskForm):
    new_number = StringField(
        _l("New virtual number"),
        [
            DataRequired(_l("Enter the virtual number to add.")),
            Regexp(r"^\d{4,15}$", message=_l("A virtual number is 4 to 15 digits, nothing else.")),
        ],
        filters=[strip],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    new_name = StringField(_l("Name"), [Length(max=80)], filters=[strip])
