"""Error pages: the same layout as every page, a short human message, the right status."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from webpanel.i18n import _, service_message
from webpanel.i18n import lazy_gettext as _l

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    401: (_l("Please log in"), _l("You need to log in to do that.")),
    403: (_l("Not allowed"), _l("Your login does not give access to this page.")),
    404: (_l("Not found"), _l("There is no such page, or it is not part of your account.")),
    405: (_l("Not allowed"), _l("That action is not available here.")),
    413: (_l("Too large"), _l("The upload is larger than the panel accepts.")),
    500: (_l("Something went wrong"), _l("The panel hit an error. Please try again.")),
    503: (
        _l("Temporarily unavailable"),
        _l("The service cannot reach its database. Please try again shortly."),
    ),
}


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(InterfaceError, database_unavailable)
    app.register_error_handler(DataError, bad_value)
    # every unhandled exception ends here (Flask wraps it in an InternalServerError)
    app.register_error_handler(InternalServerError, server_error)


def render_error(status: int, detail: str | None = None, headers: list[tuple[str, str]] | None = None):
    title, message = MESSAGES.get(status, (_("Error %(status)s", status=status), ""))
    return (
        render_template("error.html", status=status, title=title, message=detail or message),
        status,
        headers or [],
    )


def http_error(exc: HTTPException):
    if exc.code is None or exc.code < 400 or exc.response is not None:
        return exc
    # keep what the exception says about itself (Allow on 405, WWW-Authenticate, ...)
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return render_error(exc.code, headers=headers)


def csrf_error(exc: CSRFError):
    return render_error(
        400,
        _(
            "The form expired or was not sent from this site (%(detail)s) "
            "Please reload the page and try again.",
            detail=service_message(exc.description),
        ),
    )


def database_unavailable(exc: DBAPIError):
    log.error("database unavailable: %s", exc.__class__.__name__)
    g.user = None  # the layout must not touch the database to render this page
    return render_error(503)


def _discard_request_transaction() -> None:
    """Roll back the request's Session: after a failed statement PostgreSQL refuses every
    other one in the transaction ("current transaction is aborted"), and the layout queries
    (the logged-in user, the navigation) would raise again *inside* the error handler. An
    exception escaping the handler never reaches the after_request hooks: the WSGI server
    answered a bare 500 without the security headers (issue 13 item 8)."""
    session = g.get("db_session")
    if session is None:
        return
    try:
        session.rollback()
    except Exception:  # the connection itself is gone: render without the database
        log.exception("rollback after an error failed")
        g.user = None


def bad_value(exc: DataError):
    """A value the database cannot hold (a number out of its column's range, ...) that a
    check above let through: the request was bad, nothing was stored (the view's `writing()`
    rolled back, the request's Session is rolled back here)."""
    log.warning("value refused by the database: %s", exc.orig.__class__.__name__ if exc.orig else exc)
    _discard_request_transaction()
    return render_error(400)


def server_error(exc: InternalServerError):
    """The one 500 page: the request's transaction discarded, the page rendered with the
    layout, and, should even that fail, a plain page; either way a normal response, so the
    after_request hooks (webpanel.security's headers) run on it."""
    _discard_request_transaction()
    try:
        return render_error(500)
    except Exception:
        log.exception("the error page itself failed")
        g.user = None
    try:
        return render_error(500)
    except Exception:
        title, message = MESSAGES[500]
        return Response(f"{title}\n\n{message}\n", 500, mimetype="text/plain")
