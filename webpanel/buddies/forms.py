from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip


class BuddyForm(FlaskForm):
    name = StringField(
        _l("Name"),
        [DataRequired(_l("Enter your contact's name.")), Length(max=120)],
        filters=[strip],
        render_kw={"autocomplete": "off"},
    )
    virtual_number = StringField(
        _l("Virtual Number"),
        [Length(max=15, message=_l("A virtual number is 4 to 15 digits."))],
        filters=[strip],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    pstn_phone = StringField(
        _l("PSTN Phone"),
        [Length(max=40)],
        filters=[strip],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
