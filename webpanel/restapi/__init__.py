"""The REST API under /api/v1 (issue 15), for operators and members, documented by an OpenAPI 3
description generated from the code (flask-smorest: marshmallow schemas on the views).

    GET  /api/v1/openapi.json      the description (generated; tests/web/test_openapi.py validates it)
    GET  /api/v1/docs              Swagger UI, served from this server (swagger-ui-bundle, no CDN)

Authentication is `Authorization: Bearer <token>` only (webpanel.restapi.auth): a browser's
session cookie opens nothing here, so there is no CSRF to check either (the blueprints are
exempt). Tokens are made and revoked in the panel (members: /api-tokens/, operators:
/admin/api-tokens/) or with `voipctl api-token create`.

The endpoints: webpanel.restapi.operator (accounts, numbers, DIDs, credit, call records,
invoices: an operator's token) and webpanel.restapi.member (/api/v1/me: a member's own call
records, voicemail, forwarding, balance: a member's token). Errors are JSON
{"error": code, "message": text, "field": name?} with the HTTP status that fits.
"""

from __future__ import annotations

import os
from typing import Any, cast

from flask import Blueprint, Flask, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from webpanel import access, errors
from webpanel.converters import IdConverter
from webpanel.restapi import auth, docs, member, operator, pages
from webpanel.restapi.schemas import ErrorSchema

PREFIX = "/api/v1"

DESCRIPTION = """
The platform's REST API, for operators (accounts, numbers, DIDs, credit, call records,
invoices) and members (their own call records, voicemail, forwarding and balance).

**Authentication**: `Authorization: Bearer <token>` on every request. Tokens are created in the
panel (a member: *API Tokens*; an operator: *Admin → API Tokens*) or with
`voipctl api-token create`, shown once, and can be revoked there at any time (refused at once).

**Scopes**: `read` (GET only, on the token owner's data: a member's account, or everything for
an operator's token), `member` (read and write on the member's own account), `operator`
(everything). A member's token gets 404 for another account's ids and 403 on operator endpoints.

**Errors** are JSON `{"error": "<code>", "message": "<text>", "field": "<name>"}` (`field` when
one input is at fault): 400 bad input (nothing was changed), 401 no valid token, 403 not in the
token's scope, 404 no such object (or not yours), 409 a conflict, 429 rate limited.

**Rate limit**: each login may make 60 requests a minute with bursts of 20 (a token bucket
shared by all the tokens of that login: more tokens buy no more requests);
past that the answer is 429 with `Retry-After` (seconds) (the operator may change both:
VOIP_API_RATE_PER_MINUTE, VOIP_API_RATE_BURST). The bucket lives in each panel
process: with several panel processes (gunicorn workers) behind one address, a token's
effective limit is that many times higher. Every answer carries `X-RateLimit-Limit` and
`X-RateLimit-Remaining`.

**Pagination**: lists are keyset-paged: `limit` (1-200, default 50) and the `next` cursor of the
previous page as `after`; `next` is null on the last page. A page costs the same wherever it is.
"""


class PanelApi(Api):
    """flask-smorest's Api, minus its app-wide HTTPException handler (the panel's own error
    pages stay; the API's blueprints answer their errors as JSON, see auth.json_error)."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        return None


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="VoIP platform API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION.strip()},
            "servers": [{"url": "/"}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "vt_… API token"}
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    # the per-token rate limit: create_app's config, else VOIP_API_RATE_PER_MINUTE / _BURST
    app.config.setdefault(
        "API_RATE_PER_MINUTE", int(os.environ.get("VOIP_API_RATE_PER_MINUTE", auth.RATE_PER_MINUTE))
    )
    app.config.setdefault("API_RATE_BURST", int(os.environ.get("VOIP_API_RATE_BURST", auth.RATE_BURST)))
    api = PanelApi(app)
    api.register_converter(IdConverter, _id_param)
    for blp in (*operator.BLUEPRINTS, member.blp):
        api.register_blueprint(blp)  # access.public: authenticated by its bearer token (auth.protect)
        app.extensions["csrf"].exempt(blp)
    access.public(cast(Blueprint, app.blueprints["api-docs"]))  # flask-smorest's: openapi.json
    app.register_blueprint(docs.bp)
    app.register_blueprint(pages.bp)  # the member's API Tokens page (a panel page: session, CSRF)
    app.extensions["csrf"].exempt(docs.bp)
    app.extensions["voip_api"] = api
    auth.init_app(app)
    # a URL under /api/v1 that matches no rule (an id past its column's range does not match
    # its rule; a method such as TRACE) is the API's JSON 404 or 405; elsewhere the panel's page
    app.register_error_handler(NotFound, _routing_error)
    app.register_error_handler(MethodNotAllowed, _routing_error)


def _routing_error(exc: HTTPException):
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        return auth.http_error(exc)
    return errors.http_error(exc)


def _id_param(converter: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": 0}
    if converter.max is not None:
        schema["maximum"] = converter.max
    return schema
