from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from webpanel.i18n import lazy_gettext as _l
from webpanel.password.services import MAX_LENGTH


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField(
        _l("Old Password:"),
        [DataRequired(_l("Enter your old password.")), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New Password:"),
        [DataRequired(_l("Enter your new password."))],
        render_kw={"autocomplete": "new-password"},
    )
    retype = PasswordField(
        _l("Retype for verification:"),
        [DataRequired(_l("Retype your new password."))],
        render_kw={"autocomplete": "new-password"},
    )
