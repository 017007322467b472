from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webpanel.validation import strip


class BuddyForm(FlaskForm):
    name = StringField("Name", [DataRequired("Enter your contact's name."), Length(max=120)],
                       filters=[strip], render_kw={"autocomplete": "off"})
    virtual_number = StringField("Virtual Number", [Length(max=15, message="A virtual number is 4 to 15 digits.")],
                                 filters=[strip], render_kw={"inputmode": "numeric", "autocomplete": "off"})
    pstn_phone = StringField("PSTN Phone", [Length(max=40)], filters=[strip],
                             render_kw={"inputmode": "tel", "autocomplete": "off"})
