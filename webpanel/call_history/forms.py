from __future__ import annotations

from wtforms import StringField
from wtforms.validators import Length, ValidationError

from controller.numbers import normalize
from webpanel.reports import DateRangeForm
from webpanel.validation import strip


class CallHistoryForm(DateRangeForm):
    number = StringField("Only calls with", [Length(max=40, message="A phone number has at most 20 digits.")],
                         filters=[strip], render_kw={"inputmode": "tel", "autocomplete": "off",
                                                     "placeholder": "any number"})

    def validate_number(self, field):
        if field.data and normalize(field.data) is None:
            raise ValidationError("Enter the number as you would dial it: digits, optionally + "
                                  "and spaces, dashes, dots or brackets.")
