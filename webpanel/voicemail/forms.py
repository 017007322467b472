"""The voicemail player's forms. Save, delete and "use the default greeting" carry only the
CSRF token (and the mailbox); the greeting upload carries the recording."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import SubmitField

from webpanel.i18n import lazy_gettext as _l
from webpanel.voicemail.audio import MAX_UPLOAD_BYTES


class ActionForm(FlaskForm):
    """Save, Delete, Use the default greeting: nothing but the token."""


class GreetingForm(FlaskForm):
    greeting = FileField(
        _l("Greeting recording"),
        validators=[
            FileRequired(_l("Choose or record a greeting first.")),
            FileSize(
                max_size=MAX_UPLOAD_BYTES,
                message=_l("The recording is larger than %(mb)s MB.", mb=MAX_UPLOAD_BYTES // (1024 * 1024)),
            ),
        ],
    )
    upload = SubmitField(_l("Upload greeting"))
