from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional, Regexp

from webpanel import choices
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip
from webpanel.white_pages.queries import DEFAULT_SORT, SORTS

SORT_LABELS = {
    "last_name": _l("Last Name"),
    "first_name": _l("First Name"),
    "number": _l("Phone Number"),
    "city": _l("City"),
    "state": _l("State"),
    "country": _l("Country"),
}


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    last_name = StringField(_l("Last Name"), [Length(max=80)], filters=[strip])
    first_name = StringField(_l("First Name"), [Length(max=80)], filters=[strip])
    phone = StringField(
        _l("Phone Number"),
        [
            Length(max=20),
            Regexp(
                r"^[0-9\s()+.-]*$",
                message=_l("A phone number has digits only (spaces, +, - and parentheses are ignored)."),
            ),
        ],
        filters=[strip],
        render_kw={"inputmode": "tel"},
    )
    city = StringField(_l("City"), [Length(max=80)], filters=[strip])
    state = StringField(_l("State"), [Length(max=80)], filters=[strip])
    country = SelectField(
        _l("Country"),
        choices=choices.options([("", _l("Any country")), *choices.countries()]),
        default="",
        widget=choices.KeptSelect(),
    )
    online = BooleanField(_l("Show only online users"))
    sort = SelectField(
        _l("Sort by"), choices=choices.options((k, SORT_LABELS[k]) for k in SORTS), default=DEFAULT_SORT
    )
    page = IntegerField(_l("Page"), [Optional(), NumberRange(min=1, max=1_000_000)], default=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = [
            *choices.options([("", _l("Any country"))]),
            *choices.localized_countries(),
        ]  # names in the member's language
