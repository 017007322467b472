from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SubmitField, TextAreaField
from wtforms.validators import Length

from webpanel.notepad.services import MAX_NOTE
from webpanel.validation import EmailAddress, strip


class NotepadForm(FlaskForm):
    body = TextAreaField("Notepad", [Length(max=MAX_NOTE, message=f"A note has at most {MAX_NOTE:,} characters.")],
                         render_kw={"rows": 14, "maxlength": MAX_NOTE, "class": "notepad"})
    email_to = EmailField("Email it to:", [Length(max=254), EmailAddress()], filters=[strip],
                          render_kw={"autocomplete": "email", "placeholder": "name@example.com"})
    save = SubmitField("Save")
    clear = SubmitField("Clear")
    send = SubmitField("Send")
