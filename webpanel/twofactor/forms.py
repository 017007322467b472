from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webpanel.i18n import lazy_gettext as _l

_CODE_KW = {"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}


class LoginCodeForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[DataRequired(_l("Enter the code from your authenticator app.")), Length(max=32)],
        render_kw={**_CODE_KW, "autofocus": True, "inputmode": "text"},
    )
    remember = BooleanField(_l("Remember this device for 30 days"))


class ConfirmForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(_l("Enter the code from your authenticator app.")), Length(max=32)],
        render_kw={**_CODE_KW, "inputmode": "numeric"},
    )


class DisableForm(FlaskForm):
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[DataRequired(_l("Enter the code from your authenticator app.")), Length(max=32)],
        render_kw=_CODE_KW,
    )


class PlainForm(FlaskForm):
    """A button: only the CSRF token."""
