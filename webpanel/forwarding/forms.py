from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange

from webpanel import choices
from webpanel.i18n import lazy_gettext as _l

MODES = choices.options([("simultaneous", _l("Simultaneously")), ("sequential", _l("Sequentially"))])
SECONDS_MESSAGE = _l("Enter a number of seconds from 1 to 99.")
NUMBERS_HELP = _l("One per line, as you would dial them on the phone, using a 1 or 0 if needed (at most 10).")


class SecondsField(IntegerField):
    """1 to 99 seconds, with one clear message whatever was typed."""

    def __init__(self, label, **kwargs):
        super().__init__(
            label,
            [InputRequired(SECONDS_MESSAGE), NumberRange(1, 99, SECONDS_MESSAGE)],
            render_kw={"min": 1, "max": 99, "inputmode": "numeric", "class": "seconds"},
            **kwargs,
        )

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(str(SECONDS_MESSAGE)) from None


def numbers_field(label) -> TextAreaField:
    return TextAreaField(
        label,
        [Length(max=1000, message=_l("That list is too long."))],
        render_kw={"rows": 5, "spellcheck": "false", "autocomplete": "off", "class": "numbers"},
    )


class Step1Form(FlaskForm):
    step1 = RadioField(
        _l("Where would you like to send your phone call?"),
        choices=choices.options(
            [
                ("voicemail", _l("Send immediately to my voice mail")),
                ("ring_list", _l("ring my list of numbers")),
                ("none", _l("No special forwarding")),
            ]
        ),
        validators=[InputRequired(_l("Choose where to send your calls."))],
        validate_choice=False,
    )
    step1_mode = SelectField(_l("Ring mode"), choices=MODES, validate_choice=False)
    step1_seconds = SecondsField(_l("Seconds"))
    step1_numbers = numbers_field(_l("My list of numbers"))
    device_seconds = SecondsField(_l("Ring my phone for"))


class Step2Form(FlaskForm):
    no_answer_enabled = BooleanField(_l("If no answer"))
    no_answer_mode = SelectField(_l("Ring mode"), choices=MODES, validate_choice=False)
    no_answer_seconds = SecondsField(_l("Seconds"))
    no_answer_numbers = numbers_field(_l("No-answer list of numbers"))
    busy_enabled = BooleanField(_l("If busy"))
    busy_mode = SelectField(_l("Ring mode"), choices=MODES, validate_choice=False)
    busy_seconds = SecondsField(_l("Seconds"))
    busy_numbers = numbers_field(_l("Busy list of numbers"))
    no_special = BooleanField(_l("No special forwarding."))
