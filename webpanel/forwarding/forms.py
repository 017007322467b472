"""The forwarding page's one form: steps 1-3, screening (do not disturb, anonymous callers,
find-me confirmation), office hours and what happens after them; and the call-blocking form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from webpanel import choices
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip

MODES = choices.options([("simultaneous", _l("Simultaneously")), ("sequential", _l("Sequentially"))])
SECONDS_MESSAGE = _l("Enter a number of seconds from 1 to 99.")
NUMBERS_HELP = _l("One per line, as you would dial them on the phone, using a 1 or 0 if needed (at most 10).")
STEP1_CHOICES = [
    ("voicemail", _l("Send immediately to my voice mail")),
    ("ring_list", _l("ring my list of numbers")),
    ("none", _l("No special forwarding")),
]
AFTER_HOURS_CHOICES = [
    ("voicemail", _l("Send to my voice mail")),
    ("ring_list", _l("Ring a list of numbers")),
    ("none", _l("Same as during office hours with no special forwarding: ring my phone, then step 2")),
]
DAYS = [
    ("0", _l("Monday")),
    ("1", _l("Tuesday")),
    ("2", _l("Wednesday")),
    ("3", _l("Thursday")),
    ("4", _l("Friday")),
    ("5", _l("Saturday")),
    ("6", _l("Sunday")),
]
PRESETS = ("office", "road", "vacation")


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
        render_kw={"rows": 4, "spellcheck": "false", "autocomplete": "off", "class": "numbers"},
    )


class DaysField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ForwardingForm(FlaskForm):
    """Every setting of the page, saved by one submit (services.save_forwarding checks it all
    again; the fields of a step that does not apply are ignored and keep what is stored)."""

    step1 = RadioField(
        _l("Where would you like to send your phone call?"),
        choices=choices.options(STEP1_CHOICES),
        validate_choice=False,
    )
    step1_mode = SelectField(_l("Step 1 ring mode"), choices=MODES, validate_choice=False)
    step1_seconds = SecondsField(_l("Step 1 seconds"))
    step1_numbers = numbers_field(_l("My list of numbers"))
    device_seconds = SecondsField(_l("Ring my phone for"))
    no_answer_enabled = BooleanField(_l("If no answer"))
    no_answer_mode = SelectField(_l("No-answer ring mode"), choices=MODES, validate_choice=False)
    no_answer_seconds = SecondsField(_l("No-answer seconds"))
    no_answer_numbers = numbers_field(_l("No-answer list of numbers"))
    busy_enabled = BooleanField(_l("If busy"))
    busy_mode = SelectField(_l("Busy ring mode"), choices=MODES, validate_choice=False)
    busy_seconds = SecondsField(_l("Busy seconds"))
    busy_numbers = numbers_field(_l("Busy list of numbers"))
    no_special = BooleanField(_l("No special forwarding."))
    dnd = BooleanField(_l("Do not disturb"))
    reject_anonymous = BooleanField(_l("Reject anonymous callers"))
    confirm_forwarded = BooleanField(_l("Forwarded calls must press 1 to accept"))
    hours_enabled = BooleanField(_l("Use office hours"))
    hours_days = DaysField(_l("Open on"), choices=choices.options(DAYS), validate_choice=False)
    hours_open = TimeField(_l("Opens at"), [Optional()])
    hours_close = TimeField(_l("Closes at"), [Optional()])
    after_hours_step1 = RadioField(
        _l("After hours"), choices=choices.options(AFTER_HOURS_CHOICES), validate_choice=False
    )
    after_hours_mode = SelectField(_l("After-hours ring mode"), choices=MODES, validate_choice=False)
    after_hours_seconds = SecondsField(_l("After-hours seconds"))
    after_hours_numbers = numbers_field(_l("After-hours list of numbers"))


class SimulateForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that changes nothing

    caller = StringField(_l("Caller's number (optional)"), [Length(max=40)], filters=[strip])
    day = SelectField(_l("Day"), choices=choices.options([("", _l("Today")), *DAYS]), validate_choice=False)
    time = TimeField(_l("Time"), [Optional()])


class BlockForm(FlaskForm):
    number = StringField(
        _l("Number to block"),
        [InputRequired(_l("Enter the number to block."))],
        filters=[strip],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    note = StringField(_l("Note (optional)"), [Length(max=80)], filters=[strip])
