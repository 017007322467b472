"""POST /api/topup: the external payment portal adds call credit to a member's account.

Authenticated by its signature (webpanel.api.topup), not by a session: the blueprint is public
to the panel's login and exempt from CSRF (no browser, no cookie). Answers JSON, errors too.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from webpanel import access
from webpanel.api import topup
from webpanel.database import db, writing

bp = Blueprint("api", __name__, url_prefix="/api")
access.public(bp)
log = logging.getLogger("webpanel.api")


@bp.post("/topup")
def topup_view():
    settings = current_app.extensions["voip_settings"]
    try:
        if not settings.topup_secret:
            raise topup.TopupError(503, "topup_disabled", "Top-ups are not configured on this server.")
        if request.mimetype != "application/json":
            raise topup.TopupError(415, "bad_content_type", "Send the body as application/json.")
        if (request.content_length or 0) > topup.MAX_BODY:
            raise topup.TopupError(413, "too_large", f"The body is larger than {topup.MAX_BODY} bytes.")
        body = request.stream.read(topup.MAX_BODY + 1)
        if len(body) > topup.MAX_BODY:
            raise topup.TopupError(413, "too_large", f"The body is larger than {topup.MAX_BODY} bytes.")
        topup.verify(
            settings.topup_secret,
            request.headers.get("X-Timestamp"),
            request.headers.get("X-Signature"),
            body,
        )
        req = topup.parse(body, settings.topup_max_amount)
        with writing():
            result, replayed = topup.apply(db(), req, remote_addr=request.remote_addr or "")
    except topup.TopupError as exc:
        log.info("top-up refused", extra={"error": exc.code, "status": exc.status})
        return jsonify(exc.body()), exc.status
    log.info(
        "top-up", extra={"payment_id": result["payment_id"], "amount": result["amount"], "replayed": replayed}
    )
    response = jsonify(result)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 200
