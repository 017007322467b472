from __future__ import annotations

from wtforms import StringField
from wtforms.validators import Length, ValidationError

from controller.rules.numbers import normalize
from webpanel.i18n import lazy_gettext as _l
from webpanel.reports import DateRangeForm
from webpanel.validation import strip


class CallHistoryForm(DateRangeForm):
    number = StringField(
        _l("Only calls with"),
        [Length(max=40, message=_l("A phone number has at most 20 digits."))],
        filters=[strip],
        render_kw={"inputmode": "tel", "autocomplete": "off", "placeholder": _l("any number")},
    )

    def validate_number(self, field):
        if field.data and normalize(field.data) is None:
            raise ValidationError(
                _l(
                    "Enter the number as you would dial it: digits, optionally + "
                    "and spaces, dashes, dots or brackets."
                )
            )
