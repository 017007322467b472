"""`/healthz` for load balancers and `docker compose`: 200 "ok" when the database answers."""

from __future__ import annotations

import logging

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webpanel import access
from webpanel.database import db

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)
access.public(bp)

PLAIN = {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/healthz")
def healthz():
    try:
        db().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check: database unavailable (%s)", exc.__class__.__name__)
        return "database unavailable\n", 503, PLAIN
    return "ok\n", 200, PLAIN
