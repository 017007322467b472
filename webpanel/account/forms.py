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
    # hundreds of <option>s each: rendered once per language, country and value (issue 16)
    country = SelectField(
        _l("Country"),
        choices=choices.options(choices.countries()),
        validate_choice=True,
        widget=choices.KeptSelect(),
    )
    time_zone = SelectField(_l("Time Zone"), choices=[], validate_choice=True, widget=choices.KeptSelect())
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
        # canonical zones only, the country's first; a stored or sent alias stands for its zone
        self.time_zone.choices = choices.time_zone_choices(self.country.data)
        self.time_zone.data = choices.canonical_zone(self.time_zone.data) or self.time_zone.data
        stored = self.time_zone.data
        if stored and stored in choices.time_zone_set() and choices.canonical_zone(stored) is None:
            # a zone with no canonical name (Etc/GMT+5) stays shown, not the list's first one
            # silently in its place; the service refuses it on save, next to the field
            current = str(_l("Your current setting"))
            self.time_zone.choices = {current: choices.options([(stored, stored)]), **self.time_zone.choices}
