from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from webpanel import choices
from webpanel.validation import strip
from webpanel.white_pages.queries import DEFAULT_SORT, SORTS

SORT_LABELS = {"last_name": "Last Name", "first_name": "First Name", "number": "Phone Number",
               "city": "City", "state": "State", "country": "Country"}


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    last_name = StringField("Last Name", [Length(max=80)], filters=[strip])
    first_name = StringField("First Name", [Length(max=80)], filters=[strip])
    phone = StringField("Phone Number", [Length(max=20)], filters=[strip],
                        render_kw={"inputmode": "tel"})
    city = StringField("City", [Length(max=80)], filters=[strip])
    state = StringField("State", [Length(max=80)], filters=[strip])
    country = SelectField("Country", choices=choices.options([("", "Any country"), *choices.countries()]),
                          default="")
    online = BooleanField("Show only online users")
    sort = SelectField("Sort by", choices=choices.options((k, SORT_LABELS[k]) for k in SORTS),
                       default=DEFAULT_SORT)
    page = IntegerField("Page", [Optional(), NumberRange(min=1, max=1_000_000)], default=1)
