"""The API token forms of the member's page and the operator's page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from db.api_tokens import MAX_DAYS, MAX_NAME
from webpanel.choices import options
from webpanel.converters import INT4_MAX
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip

SCOPE_LABELS = {
    "read": _l("Read only"),
    "member": _l("Read and change my account"),
    "operator": _l("Operator: everything"),
}


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name (what will use it)"),
        [DataRequired(_l("Give the token a name.")), Length(max=MAX_NAME)],
        filters=[strip],
        render_kw={"maxlength": MAX_NAME, "autocomplete": "off"},
    )
    scope = SelectField(_l("Scope"), validate_choice=True)
    expires_in_days = IntegerField(
        _l("Expires after (days, empty: never)"),
        [
            Optional(),
            NumberRange(1, MAX_DAYS, _l("Enter 1 to %(max)s days, or leave it empty.", max=MAX_DAYS)),
        ],
        render_kw={"min": 1, "max": MAX_DAYS, "inputmode": "numeric"},
    )

    def set_scopes(self, scopes: tuple[str, ...]) -> None:
        self.scope.choices = options([(s, SCOPE_LABELS[s]) for s in scopes])


class RevokeForm(FlaskForm):
    token_id = IntegerField(
        "token", [InputRequired(), NumberRange(1, INT4_MAX)], render_kw={"class": "visually-hidden"}
    )
