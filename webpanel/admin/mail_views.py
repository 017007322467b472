"""Operator admin: Demo Mail, the mail the demo sent, as the demo's mail catcher kept it
(controller.services.mailcatcher; `make up` starts it). Read only: the list, one message
(headers, text, its attachments to download) and the message as a file.

Without a demo mailbox (VOIP_DEMO_MAILBOX empty, as in production) the list page says where
mail goes instead, the other pages are 404, and the navigation does not show the section.
"""

from __future__ import annotations

import io

from flask import Response, abort, render_template, send_file

from controller.services.mailcatcher import mailbox
from webpanel.admin import services
from webpanel.admin.blueprint import bp, page_number, settings

# the headers a message view shows, in this order (the rest are in the .eml download)
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")


def _mailbox() -> mailbox.Mailbox | None:
    directory = settings().demo_mailbox
    return mailbox.Mailbox(directory) if directory else None


def _configured() -> mailbox.Mailbox:
    box = _mailbox()
    if box is None:
        abort(404)
    return box


def _message(box: mailbox.Mailbox, message_id: str):
    try:
        return box.message(message_id)
    except mailbox.NoSuchMessage:
        abort(404)


@bp.get("/mail/")
def mail():
    box = _mailbox()
    if box is None:
        return render_template("admin/mail.html", box=None, smtp=settings())
    ids = box.ids()
    pages = max(1, -(-len(ids) // services.PAGE_SIZE))
    page = min(page_number(), pages)
    start = (page - 1) * services.PAGE_SIZE
    rows = box.summaries(ids[start : start + services.PAGE_SIZE])
    return render_template(
        "admin/mail.html", box=box, smtp=settings(), rows=rows, total=len(ids), page=page, pages=pages
    )


@bp.get("/mail/<message_id>")
def mail_message(message_id: str):
    box = _configured()
    msg = _message(box, message_id)
    body = mailbox.text_body(msg)
    headers = [(name, str(msg[name])) for name in SHOWN_HEADERS if msg[name] is not None]
    envelope = [(name, str(msg[name])) for name in (mailbox.ENVELOPE_FROM, mailbox.ENVELOPE_TO)]
    return render_template(
        "admin/mail_message.html",
        message_id=message_id,
        received_at=mailbox.received_at(message_id),
        subject=str(msg["Subject"] or ""),
        headers=headers,
        envelope=envelope,
        body=mailbox.text_of(body) if body is not None else None,
        body_type=body.get_content_type() if body is not None else "",
        parts=[part for part, _ in mailbox.other_parts(msg)],
    )


@bp.get("/mail/<message_id>/parts/<int:index>")
def mail_part(message_id: str, index: int):
    box = _configured()
    parts = mailbox.other_parts(_message(box, message_id))
    if not 0 <= index < len(parts):
        abort(404)
    part, content = parts[index]
    # always a download, never shown in the panel's own origin: the sender chose its type
    return send_file(
        io.BytesIO(mailbox.part_bytes(content)),
        mimetype=part.content_type,
        as_attachment=True,
        download_name=part.filename,
    )


@bp.get("/mail/<message_id>/raw")
def mail_raw(message_id: str):
    box = _configured()
    try:
        data = box.raw(message_id)
    except mailbox.NoSuchMessage:
        abort(404)
    return Response(
        data,
        mimetype="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{message_id}.eml"'},
    )
