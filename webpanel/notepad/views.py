"""The help page's "Notepad": type a note, save it, clear it, email it."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from db.errors import ServiceError
from webpanel import access
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.notepad import services
from webpanel.notepad.forms import NotepadForm

bp = Blueprint("notepad", __name__, url_prefix="/notepad", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    form = NotepadForm(formdata=None, body=services.note_body(db(), g.user))
    return render_template("notepad/index.html", form=form)


@bp.post("/")
def update():
    form = NotepadForm()
    form.validate_on_submit()
    # each button checks only what it uses: Clear works on an over-long note, Save ignores a
    # half-typed address
    relevant = (
        {"csrf_token"}
        | ({"body"} if not form.clear.data else set())
        | ({"email_to"} if form.send.data else set())
    )
    for name in set(form.errors) - relevant - {None}:
        form[name].errors = []
    if not any(form[name].errors for name in relevant):
        try:
            with writing():
                message = _act(form)
        except ServiceError as exc:
            target = form.email_to if form.send.data else form.body
            target.errors = [*target.errors, service_message(exc)]
        else:
            flash(message, "success")
            return redirect(url_for(".index"))
    return render_template("notepad/index.html", form=form), 400


def _act(form: NotepadForm) -> str:
    if form.clear.data:
        services.clear_note(db(), g.user)
        return _("Your note was cleared.")
    if form.send.data:
        if not form.email_to.data:
            raise ServiceError(_("Enter the email address to send your note to."))
        services.email_note(
            db(),
            current_app.extensions["voip_settings"],
            g.user,
            form.email_to.data,
            form.body.data or "",
            remote_addr=request.remote_addr or "",
        )
        return _("Your note was sent to %(address)s.", address=form.email_to.data)
    services.save_note(db(), g.user, form.body.data or "")
    return _("Your note was saved.")
