"""The help page's "Voicemail": the player and the mailbox's greeting.

    GET  /voicemail/                              the user's own mailbox (?m=<id>: that message's)
    GET  /voicemail/<number>/?m=<id>              the player: a mailbox and its current message
    GET  /voicemail/<number>/download             every message in one zip
    POST /voicemail/<number>/greeting             a recording (browser or file) -> the greeting
    GET  /voicemail/<number>/greeting/audio       the current greeting (listen back)
    POST /voicemail/<number>/greeting/default     back to the default greeting
    GET  /voicemail/messages/<id>/audio           one message as WAV (the <audio> source)
    POST /voicemail/messages/<id>/save            New -> Saved, then the next message
    POST /voicemail/messages/<id>/delete          delete, then the next message

A number or message id outside the user's mailboxes answers 404 (access.number_scope).

Save, delete and the greeting change the mailbox through controller.services.voicemail.service (MWI is
queued in the same transaction). The greeting upload answers JSON to the page's script
(Accept: application/json) and redirects with a message otherwise.
"""

from __future__ import annotations

import datetime as dt

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from controller.rules.clock import file_stamp
from controller.services.voicemail import service
from webpanel import access, filters
from webpanel.database import db, writing
from webpanel.filters import recording_length
from webpanel.i18n import _
from webpanel.voicemail import services
from webpanel.voicemail.audio import GreetingAudioError, playable_in_browser
from webpanel.voicemail.forms import ActionForm, GreetingForm

bp = Blueprint("voicemail", __name__, url_prefix="/voicemail", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    message_id = _int_arg("m")
    try:
        if message_id is not None:
            box = services.message_mailbox(db(), g.user, message_id)
        else:
            box = services.mailbox(db(), g.user, None, _boxes())
    except services.NotFound:
        abort(404)
    return _player(box, message_id)


@bp.get("/<number>/")
def mailbox(number: str):
    return _player(_box_or_404(number), _int_arg("m"))


def _player(box, message_id: int | None):
    try:
        player = services.player(db(), box, message_id)
    except services.NotFound:
        abort(404)
    return render_template(
        "voicemail/index.html",
        player=player,
        boxes=_boxes(),
        form=ActionForm(),  # its CSRF field is the greeting upload's too (the same token)
        icons=_icons(),
        autoplay=request.args.get("play") == "1",
        max_seconds=service.GREETING_MAX_SECONDS,
    )


@bp.get("/messages/<int:message_id>/audio")
def audio(message_id: int):
    box = _message_box(message_id)
    stored = service.get_audio(db(), box.id, message_id)
    if stored is None:
        abort(404)
    wav = playable_in_browser(*stored)
    if wav is None:
        abort(404)
    return _wav(wav, f"voicemail-{box.number}-{message_id}.wav")


@bp.post("/messages/<int:message_id>/save")
def save(message_id: int):
    box = _message_box(message_id)  # CSRFProtect has checked the token
    after = _following(box, message_id)
    with writing():
        services.save(db(), box, message_id)
    flash(_("The message was saved."), "success")
    return redirect(_player_url(box, after))


@bp.post("/messages/<int:message_id>/delete")
def delete(message_id: int):
    box = _message_box(message_id)
    after = _following(box, message_id)
    with writing():
        services.delete(db(), box, message_id, actor=g.user, remote_addr=request.remote_addr or "")
    flash(_("The message was deleted."), "success")
    return redirect(_player_url(box, after))


@bp.get("/<number>/download")
def download(number: str):
    box = _box_or_404(number)
    if service.counts(db(), box.id) == (0, 0):
        flash(_("There are no messages to download."), "info")
        return redirect(url_for(".mailbox", number=box.number))
    zone = filters.zone(filters.account_zone())  # the page's times are local: so are the names
    data = service.zip_messages(db(), box.id, zone)
    stamp = file_stamp(dt.datetime.now(dt.UTC), zone)
    return Response(
        data,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="voicemail-{box.number}-{stamp}.zip"'},
    )


@bp.post("/<number>/greeting")
def greeting(number: str):
    box = _box_or_404(number)
    form = GreetingForm()
    if not form.validate_on_submit():
        errors = [str(e) for e in form.greeting.errors]
        return _greeting_reply(box, False, errors[0] if errors else _("The recording could not be used."))
    try:
        with writing():
            seconds = services.set_greeting(
                db(), box, form.greeting.data.read(), actor=g.user, remote_addr=request.remote_addr or ""
            )
    except GreetingAudioError as exc:
        return _greeting_reply(box, False, services.greeting_error_message(exc))
    return _greeting_reply(
        box,
        True,
        _(
            "Your new greeting (%(length)s) is saved: callers hear it before the tone.",
            length=recording_length(seconds),
        ),
        seconds=seconds,
    )


@bp.get("/<number>/greeting/audio")
def greeting_audio(number: str):
    box = _box_or_404(number)
    row = service.get_greeting(db(), box.id)
    if row is None:
        abort(404)
    return _wav(row[0], f"greeting-{box.number}.wav")


@bp.post("/<number>/greeting/default")
def greeting_default(number: str):  # CSRFProtect has checked the token
    box = _box_or_404(number)
    with writing():
        had = services.default_greeting(db(), box, actor=g.user, remote_addr=request.remote_addr or "")
    if had:
        flash(_("Callers now hear the default greeting."), "success")
    else:
        flash(_("Callers already hear the default greeting."), "info")
    return redirect(url_for(".mailbox", number=box.number))


# ----- helpers
def _greeting_reply(box, ok: bool, message: str, seconds: float = 0.0):
    if request.accept_mimetypes.best == "application/json":
        body = {"ok": ok, "message": message}
        if ok:
            body.update(
                seconds=round(seconds, 2),
                length=recording_length(seconds),
                audio_url=url_for(".greeting_audio", number=box.number),
            )
        return jsonify(body), 200 if ok else 400
    flash(message, "success" if ok else "error")
    return redirect(url_for(".mailbox", number=box.number))


def _wav(data: bytes, filename: str) -> Response:
    """The audio with Range support (a browser's <audio> seeks with byte ranges)."""
    disposition = "attachment" if request.args.get("download") == "1" else "inline"
    response = Response(
        data, mimetype="audio/wav", headers={"Content-Disposition": f'{disposition}; filename="{filename}"'}
    )
    response.make_conditional(request, accept_ranges=True, complete_length=len(data))  # in place
    return response


def _boxes():
    """The user's mailboxes, read once per request (the page finds its box among them)."""
    if "voicemail_boxes" not in g:
        g.voicemail_boxes = services.mailboxes(db(), g.user)
    return g.voicemail_boxes


def _message_box(message_id: int):
    try:
        return services.message_mailbox(db(), g.user, message_id)
    except services.NotFound:
        abort(404)


def _box_or_404(number: str):
    if not (number.isdigit() and len(number) <= 40):
        abort(404)
    try:
        return services.mailbox(db(), g.user, number, _boxes())
    except services.NotFound:
        abort(404)


def _following(box, message_id: int) -> int | None:
    """The message to show after `message_id` is saved or deleted: the next one, else the
    previous one (None: the first)."""
    ids = [m.id for m in service.list_messages(db(), box.id)]
    if message_id not in ids:
        return None
    i = ids.index(message_id)
    if i + 1 < len(ids):
        return ids[i + 1]
    return ids[i - 1] if i > 0 else None


def _player_url(box, message_id: int | None) -> str:
    if message_id is None:
        return url_for(".mailbox", number=box.number)
    return url_for(".mailbox", number=box.number, m=message_id)


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    if not (raw.isdigit() and len(raw) <= 12):
        abort(400)
    return int(raw)


_ICONS = ("previous", "play", "pause", "stop", "next", "download", "record", "save", "trash")


def _icons() -> dict[str, Markup]:
    """The player's icons (_icons.html), the same SVG for every page: made once per process
    (issue 16: CPU)."""
    icons = current_app.extensions.get("voicemail.icons")
    if icons is None:
        icon = get_template_attribute("_icons.html", "icon")
        icons = current_app.extensions["voicemail.icons"] = {name: Markup(icon(name)) for name in _ICONS}
    return icons
