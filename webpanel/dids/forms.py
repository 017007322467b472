from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from webpanel import choices
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import EmailAddress, strip


class ConnectForm(FlaskForm):
    connected_to = StringField(
        _l("Connected to"), [DataRequired(_l("Choose a virtual number or Fax to Email."))]
    )
    fax_email = EmailField(
        _l("Email address to receive faxes"), [Length(max=254), EmailAddress()], filters=[strip]
    )


def _text(label, limit: int, required: bool = False, **render_kw) -> StringField:
    validators = [
        Length(max=limit, message=_l("%(field)s has at most %(limit)s characters.", field=label, limit=limit))
    ]
    if required:
        validators.insert(0, DataRequired(_l("Enter the %(field)s.", field=label)))
    return StringField(label, validators, filters=[strip], render_kw=render_kw or None)


class E911Form(FlaskForm):
    in_us_ca = RadioField(
        _l("Location"),
        choices=choices.options(
            [("yes", _l("I am located within US/CA.")), ("no", _l("I am not located within US/CA."))]
        ),
        validators=[InputRequired(_l("Check whether you are located within US/CA."))],
        validate_choice=False,
    )
    name = _text(_l("Name"), 120, True, autocomplete="name")
    comment = _text(_l("Comment"), 200)
    country = SelectField(_l("Country"), choices=choices.options(choices.countries()), validate_choice=False)
    state = _text(_l("State/Province"), 80, True, autocomplete="address-level1")
    city = _text(_l("City"), 80, True, autocomplete="address-level2")
    house_number = _text(_l("House Number"), 20, True)
    number_suffix = _text(_l("Number Suffix"), 10)
    street_dir_prefix = SelectField(
        _l("Street Direction Prefix"),
        choices=choices.options(choices.STREET_DIRECTIONS),
        validate_choice=False,
    )
    street_name = _text(_l("Street Name"), 120, True)
    street_dir_suffix = SelectField(
        _l("Street Direction Suffix"),
        choices=choices.options(choices.STREET_DIRECTIONS),
        validate_choice=False,
    )
    street_type = SelectField(
        _l("Street Type"), choices=choices.options(choices.STREET_TYPES), validate_choice=False
    )
    location = _text(_l("Location Description"), 200)
    postal_code = _text(_l("Postal/Zip Code"), 20, autocomplete="postal-code")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = choices.localized_countries()  # names in the member's language
