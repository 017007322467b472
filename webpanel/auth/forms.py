from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webpanel.i18n import lazy_gettext as _l


class LoginForm(FlaskForm):
    login = StringField(
        _l("Virtual Number"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={
            "autocomplete": "username",
            "autofocus": True,
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )
    # bounded: argon2 on a megabyte password would be a cheap denial of service
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    identifier = StringField(
        _l("Virtual Number or email address"),
        validators=[DataRequired(_l("Enter your virtual number or your email address.")), Length(max=254)],
        render_kw={
            "autocomplete": "username",
            "autofocus": True,
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )


class ResetPasswordForm(FlaskForm):
    # bounded like every password field (argon2 on a megabyte would be a cheap denial of service)
    new_password = PasswordField(
        _l("New Password:"),
        [DataRequired(_l("Enter your new password.")), Length(max=256)],
        render_kw={"autocomplete": "new-password", "autofocus": True},
    )
    retype = PasswordField(
        _l("Retype for verification:"),
        [DataRequired(_l("Retype your new password."))],
        render_kw={"autocomplete": "new-password"},
    )
