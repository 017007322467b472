from __future__ import annotations

from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import EmailField, SubmitField, TextAreaField
from wtforms.validators import Length

from webpanel.filters import number
from webpanel.i18n import lazy_gettext as _l
from webpanel.notepad.services import MAX_NOTE
from webpanel.validation import EmailAddress, strip


class NotepadForm(FlaskForm):
    body = TextAreaField(
        _l("Notepad"),
        [
            Length(
                max=MAX_NOTE,
                message=_l("A note has at most %(limit)s characters.", limit=LazyString(number, MAX_NOTE)),
            )
        ],
        render_kw={"rows": 14, "maxlength": MAX_NOTE, "class": "notepad"},
    )
    email_to = EmailField(
        _l("Email it to:"),
        [Length(max=254), EmailAddress()],
        filters=[strip],
        render_kw={"autocomplete": "email", "placeholder": "name@example.com"},
    )
    save = SubmitField(_l("Save"))
    clear = SubmitField(_l("Clear"))
    send = SubmitField(_l("Send"))
