from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from webpanel.password.services import MAX_LENGTH


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField("Old Password:", [DataRequired("Enter your old password."),
                                                   Length(max=MAX_LENGTH)],
                                 render_kw={"autocomplete": "current-password"})
    new_password = PasswordField("New Password:", [DataRequired("Enter your new password.")],
                                 render_kw={"autocomplete": "new-password"})
    retype = PasswordField("Retype for verification:", [DataRequired("Retype your new password.")],
                           render_kw={"autocomplete": "new-password"})
