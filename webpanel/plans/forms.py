from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired

from webpanel.i18n import lazy_gettext as _l


class EnabledPhoneForm(FlaskForm):
    enabled_phone = StringField(
        _l("Enabled Phone"), [DataRequired(_l("Choose the phone this plan applies to."))]
    )
