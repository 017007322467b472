from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from webpanel import choices
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import EmailAddress, strip


class AccountForm(FlaskForm):
    first_name = StringField(
        _l("First Name"),
        [DataRequired(_l("Enter your first name.")), Length(max=80)],
        filters=[strip],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        _l("Last Name"),
        [DataRequired(_l("Enter your last name.")), Length(max=80)],
        filters=[strip],
        render_kw={"autocomplete": "family-name"},
    )
    company = StringField(
        _l("Company"), [Length(max=120)], filters=[strip], render_kw={"autocomplete": "organization"}
    )
    address1 = StringField(
        _l("Address"), [Length(max=120)], filters=[strip], render_kw={"autocomplete": "address-line1"}
    )
    address2 = StringField(
        _l("Address (second line)"),
        [Length(max=120)],
        filters=[strip],
        render_kw={"autocomplete": "address-line2"},
    )
    city = StringField(
        _l("City"), [Length(max=80)], filters=[strip], render_kw={"autocomplete": "address-level2"}
    )
    state = StringField(
        _l("State"), [Length(max=80)], filters=[strip], render_kw={"autocomplete": "address-level1"}
    )
    postal_code = StringField(
        _l("Postal Code"), [Length(max=20)], filters=[strip], render_kw={"autocomplete": "postal-code"}
    )
    country = SelectField(_l("Country"), choices=choices.options(choices.countries()), validate_choice=True)
    time_zone = SelectField(_l("Time Zone"), choices=choices.time_zones(), validate_choice=True)
    language = SelectField(_l("Language"), choices=choices.options(choices.LANGUAGES), validate_choice=True)
    email = EmailField(
        _l("Email address"),
        [DataRequired(_l("Enter your email address.")), Length(max=254), EmailAddress()],
        filters=[strip],
        render_kw={"autocomplete": "email"},
    )
    pstn_phone = StringField(
        _l("PSTN Phone"),
        [Length(max=32)],
        filters=[strip],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    pstn_fax = StringField(_l("PSTN Fax"), [Length(max=32)], filters=[strip], render_kw={"inputmode": "tel"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = choices.localized_countries()  # names in the member's language
