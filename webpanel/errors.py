"""Error pages: the same layout as every page, a short human message, the right status."""

from __future__ import annotations

import logging

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

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
