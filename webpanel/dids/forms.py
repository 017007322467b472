from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from webpanel import choices
from webpanel.validation import EmailAddress, strip


class ConnectForm(FlaskForm):
    connected_to = StringField("Connected to", [DataRequired("Choose a virtual number or Fax to Email.")])
    fax_email = EmailField("Email address to receive faxes", [Length(max=254), EmailAddress()],
                           filters=[strip])


def _text(label: str, limit: int, required: bool = False, **render_kw) -> StringField:
    validators = [Length(max=limit, message=f"{label} has at most {limit} characters.")]
    if required:
        validators.insert(0, DataRequired(f"Enter the {label}."))
    return StringField(label, validators, filters=[strip], render_kw=render_kw or None)


class E911Form(FlaskForm):
    in_us_ca = RadioField("Location", choices=choices.options([("yes", "I am located within US/CA."),
                                                               ("no", "I am not located within US/CA.")]),
                          validators=[InputRequired("Check whether you are located within US/CA.")],
                          validate_choice=False)
    name = _text("Name", 120, True, autocomplete="name")
    comment = _text("Comment", 200)
    country = SelectField("Country", choices=choices.options(choices.countries()), validate_choice=False)
    state = _text("State/Province", 80, True, autocomplete="address-level1")
    city = _text("City", 80, True, autocomplete="address-level2")
    house_number = _text("House Number", 20, True)
    number_suffix = _text("Number Suffix", 10)
    street_dir_prefix = SelectField("Street Direction Prefix", choices=choices.options(choices.STREET_DIRECTIONS),
                                    validate_choice=False)
    street_name = _text("Street Name", 120, True)
    street_dir_suffix = SelectField("Street Direction Suffix", choices=choices.options(choices.STREET_DIRECTIONS),
                                    validate_choice=False)
    street_type = SelectField("Street Type", choices=choices.options(choices.STREET_TYPES), validate_choice=False)
    location = _text("Location Description", 200)
    postal_code = _text("Postal/Zip Code", 20, autocomplete="postal-code")
