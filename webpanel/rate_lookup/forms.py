from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip


class OwnNumberField(SelectField):
    def pre_validate(self, form):
        if self.data not in {c[0] for c in self.iter_choices()}:
            raise ValidationError(_l("Choose one of your virtual numbers."))


class RateLookupForm(FlaskForm):
    """A lookup changes nothing: a GET form without a CSRF token."""

    class Meta:
        csrf = False

    number = StringField(
        _l("Phone number"),
        [
            DataRequired(_l("Enter the phone number you wish to look up.")),
            Length(max=40, message=_l("A phone number has at most 20 digits.")),
        ],
        filters=[strip],
        render_kw={
            "inputmode": "tel",
            "autocomplete": "off",
            "placeholder": _l("as you would dial it, e.g. 011 44 20 7946 0000"),
        },
    )
    caller = OwnNumberField(_l("Calling from"))
