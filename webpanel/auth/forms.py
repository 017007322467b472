from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    login = StringField("Virtual Number", validators=[DataRequired(), Length(max=64)],
                        render_kw={"autocomplete": "username", "autofocus": True,
                                   "autocapitalize": "none", "spellcheck": "false"})
    # bounded: argon2 on a megabyte password would be a cheap denial of service
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})

