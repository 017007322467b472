from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired


class EnabledPhoneForm(FlaskForm):
    enabled_phone = StringField("Enabled Phone", [DataRequired("Choose the phone this plan applies to.")])
