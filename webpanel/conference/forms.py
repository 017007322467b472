"""The Conference forms: the help page's "Create a Conference Schedule" with its guest list.

Field names are stable (a browser test and the help page rely on them): admin_name,
admin_phone, video, quiet_mode, allow_800, date (YYYY-MM-DD), time (HH:MM), duration (minutes),
and per guest `guests-<n>-virtual_number|name|email|role|send_invite|guest_id`.
The fields only carry the values: the services check every one (and say what is wrong).
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
)

from webpanel import choices
from webpanel.conference.services import DURATIONS, MAX_GUESTS, time_choices
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip

ROLE_CHOICES = (("talk_only", _l("Talk Only")), ("listen_only", _l("Listen Only")), ("normal", _l("Normal")))

DURATION_LABELS = {
    15: _l("15 minutes"),
    30: _l("30 minutes"),
    45: _l("45 minutes"),
    60: _l("1 hour"),
    90: _l("1 hour 30 minutes"),
    120: _l("2 hours"),
    180: _l("3 hours"),
    240: _l("4 hours"),
    360: _l("6 hours"),
    480: _l("8 hours"),
    720: _l("12 hours"),
    1440: _l("24 hours"),
}


def duration_label(minutes: int):
    label = DURATION_LABELS.get(minutes)
    if label is not None:
        return label
    from webpanel.i18n import _

    return _("%(n)d minutes", n=minutes)


class GuestForm(Form):
    """One row of the guest list (a sub-form: the CSRF token is the outer form's)."""

    # a label of its own (never shown: the one WTForms makes loads its catalog per request)
    guest_id = HiddenField("Guest Id")
    virtual_number = StringField(
        _l("Virtual Number"),
        filters=[strip],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 15},
    )
    name = StringField(_l("Name"), filters=[strip], render_kw={"autocomplete": "off", "maxlength": 120})
    email = StringField(
        _l("E-mail"), filters=[strip], render_kw={"type": "email", "autocomplete": "off", "maxlength": 254}
    )
    role = RadioField(
        _l("Role"), choices=choices.options(ROLE_CHOICES), default="normal", validate_choice=False
    )
    send_invite = BooleanField(_l("Send email invite"))


class ConferenceForm(FlaskForm):
    admin_name = StringField(
        _l("Admin Name"), filters=[strip], render_kw={"autocomplete": "name", "maxlength": 120}
    )
    admin_phone = SelectField(_l("Admin Phone"), choices=[], validate_choice=False)
    video = BooleanField(_l("Video Conference"))
    quiet_mode = BooleanField(_l("Quiet Mode"))
    allow_800 = BooleanField(_l("Allow 800 dial-in"))
    date = StringField(_l("Date"), filters=[strip], render_kw={"type": "date"})
    time = SelectField(
        _l("Time"),
        choices=choices.options((t, t) for t in time_choices()),
        validate_choice=False,
        widget=choices.KeptSelect(),
    )
    duration = SelectField(
        _l("Duration"),
        choices=choices.options((str(m), DURATION_LABELS[m]) for m in DURATIONS),
        default="60",
        validate_choice=False,
        widget=choices.KeptSelect(),
    )
    # labels never shown, given so that WTForms does not load its catalog to make them
    guests = FieldList(
        FormField(GuestForm, label="Guest"), label="Guests", min_entries=1, max_entries=MAX_GUESTS + 1
    )
