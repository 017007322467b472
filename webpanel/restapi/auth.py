"""The API's door: a bearer token, its scope, its rate limit; and errors as JSON.

Every request to an API blueprint (before its view, and before its input is even parsed):

1. `g.user` is emptied: the panel's session cookie (read by access.load_logged_in_user for
   every request) never authenticates an API call;
2. the `Authorization: Bearer vt_…` token is looked up by its SHA-256 (tokens.authenticate):
   unknown, revoked, expired, or its user no longer entitled -> 401;
3. the bucket of the token's user is charged (RateLimiter; one bucket for all the tokens of a
   login, so making more tokens buys no more requests): empty -> 429 with Retry-After;
4. the scope must fit the blueprint (`operator` or `member` kind) and the method (read: GET
   and HEAD only) -> else 403;
5. last_used_at is written when it is a minute old (one small UPDATE, committed on its own);
6. `g.user` is the token's user (so the member endpoints reuse the panel's ownership rules,
   access.number_scope), `g.api_caller` the token (tokens.Caller) for the audit log.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask_smorest import Blueprint as SmorestBlueprint
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, InternalServerError

from db import api_tokens as tokens
from db.errors import ServiceError
from db.models import User
from webpanel import access
from webpanel.database import db, writing
from webpanel.i18n import service_message

log = logging.getLogger(__name__)

RATE_PER_MINUTE = 60
RATE_BURST = 20
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KIND_ATTR = "voip_api_kind"  # "operator" or "member", set by `protect`

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An API refusal: answered as {"error", "message", "field"?} with `status`."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field
        self.headers = headers or {}


def not_found(what: str = "object") -> ApiError:
    return ApiError(404, "not_found", f"There is no such {what}, or it is not yours.")


class RateLimiter:
    """A token bucket per API user (all the tokens of one login share it), in this process: `per_minute` requests a minute, `burst` at
    once. With several panel processes each has its own buckets (documented in the API's
    description: the effective limit is multiplied by the number of processes)."""

    def __init__(self, per_minute: int, burst: int):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.limit = per_minute
        self._buckets: dict[int, tuple[float, float]] = {}  # user id -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: int, now: float | None = None) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until one more request is allowed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            level, at = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - at) * self.rate)
            if level >= 1.0:
                level -= 1.0
                self._buckets[key] = (level, now)
                if len(self._buckets) > 100_000:  # idle buckets are full ones: forget them
                    self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
                return True, int(level), 0.0
            self._buckets[key] = (level, now)
            return False, 0, (1.0 - level) / self.rate if self.rate > 0 else 60.0


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400  # what http_error answers (webargs' default is 422)


class ApiBlueprint(SmorestBlueprint):
    """flask-smorest's Blueprint whose input that does not validate is a 400, as answered and
    as documented (its default documents a 422 the API never sends)."""

    ARGUMENTS_PARSER = _Parser()


def init_app(app: Flask) -> None:
    app.extensions["voip_api_limiter"] = RateLimiter(
        int(app.config["API_RATE_PER_MINUTE"]), int(app.config["API_RATE_BURST"])
    )


def protect(bp: Any, kind: str) -> None:
    """Mark an API blueprint `operator` or `member`: every request to it is authenticated and
    checked for scope and rate; its errors are JSON."""
    if kind not in ("operator", "member"):
        raise ValueError(kind)
    setattr(bp, KIND_ATTR, kind)
    access.public(bp)  # no session login: the bearer token is checked by `authenticate`
    bp.before_request(authenticate)
    bp.after_request(_rate_headers)
    json_errors(bp)


def json_errors(bp: Any) -> None:
    """Every error of `bp` answered as the API's JSON, never the panel's HTML page: the app's
    handlers for a 500 and for database errors (webpanel.errors) are code- or class-specific,
    so the blueprint names its own for each (Flask looks at the blueprint's first)."""
    bp.register_error_handler(ApiError, api_error)
    bp.register_error_handler(ServiceError, service_error)
    bp.register_error_handler(HTTPException, http_error)
    bp.register_error_handler(InternalServerError, server_error)
    bp.register_error_handler(RecursionError, too_deep)
    bp.register_error_handler(DataError, database_refused)
    bp.register_error_handler(OperationalError, database_unavailable)
    bp.register_error_handler(InterfaceError, database_unavailable)


def caller() -> tokens.Caller:
    return g.api_caller


def actor() -> User:
    return g.user


def remote() -> str:
    return request.remote_addr or ""


def authenticate() -> None:
    g.user = None  # whatever the session cookie said
    g.api_caller = None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Send an API token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    found = tokens.authenticate(db(), secret.strip())
    if found is None:
        raise ApiError(
            401,
            "invalid_token",
            "The API token is unknown, revoked or expired.",
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        )
    limiter: RateLimiter = current_app.extensions["voip_api_limiter"]
    allowed, remaining, wait = limiter.take(found.user_id)  # per login: more tokens, no more requests
    g.api_rate = (limiter.limit, remaining)
    if not allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests with this token: at most {limiter.limit} a minute. Try again shortly.",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    kind = getattr(current_app.blueprints.get(request.blueprint or ""), KIND_ATTR, None)
    if kind == "operator" and not found.operator:
        raise ApiError(403, "forbidden", "This endpoint needs an operator's token.")
    if kind == "member" and found.operator:
        raise ApiError(403, "forbidden", "This endpoint is a member's: use a member's token.")
    if request.method not in READ_METHODS and not found.may_write:
        raise ApiError(403, "forbidden", "This token's scope is read: it may only read (GET).")
    if tokens.touch_due(found):
        with writing():
            tokens.touch(db(), found.token_id)
    g.user, g.api_caller = found.user, found


def _rate_headers(response: Response) -> Response:
    rate = g.get("api_rate")
    if rate is not None:
        response.headers["X-RateLimit-Limit"] = str(rate[0])
        response.headers["X-RateLimit-Remaining"] = str(rate[1])
    return response


def error_response(
    status: int, error: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    for k, v in (headers or {}).items():
        response.headers[k] = v
    response.headers["Cache-Control"] = "no-store"
    return _rate_headers(response)


def api_error(exc: ApiError) -> Response:
    _rollback()
    return error_response(exc.status, exc.error, exc.message, exc.field, exc.headers)


def service_error(exc: ServiceError) -> Response:
    """A service's refusal (bad input): 400, nothing was stored (`writing()` rolled back)."""
    _rollback()
    errors = getattr(exc, "errors", None)  # FieldErrors: the first field at fault
    field = next(iter(errors), None) if isinstance(errors, dict) else None
    return error_response(400, "invalid", service_message(exc), field)


def http_error(exc: HTTPException) -> Response:
    _rollback()
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if status == 422 or (status == 400 and messages):  # webargs: the input did not validate
        field, message = _first_problem(messages or {})
        return error_response(400, "invalid", message, field)
    headers = {
        k: v for k, v in exc.get_headers() if k.lower() in ("allow", "www-authenticate", "retry-after")
    }
    message = exc.description or "Error"
    return error_response(status, ERROR_CODES.get(status, "error"), str(message), None, headers)


def server_error(exc: InternalServerError) -> Response:
    """An unexpected error: logged with its trace by Flask; the answer says nothing of it."""
    _rollback()
    return error_response(500, "server_error", "The server hit an error. Please try again.")


def too_deep(exc: RecursionError) -> Response:
    """A body nested deeper than the JSON parser goes (a "JSON bomb")."""
    _rollback()
    return error_response(400, "invalid", "The JSON body is nested too deeply.")


def database_refused(exc: DataError) -> Response:
    """A value the database cannot hold (a NUL character, a number out of range) that a check
    above let through: bad input, nothing stored."""
    _rollback()
    return error_response(400, "invalid", "A value in the request is not valid.")


def database_unavailable(exc: Exception) -> Response:
    _rollback()
    return error_response(503, "unavailable", "The service cannot reach its database. Try again shortly.")


def _first_problem(messages: Any, path: str = "") -> tuple[str | None, str]:
    """The first field at fault in webargs' {location: {field: [messages]}} (nested)."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "path", "form", "headers", "files") and not path:
                return _first_problem(value, "")
            name = f"{path}.{key}" if path else str(key)
            if key == "_schema":
                name = path
            field, message = _first_problem(value, name)
            return field or None, message
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, (dict, list)):
            return _first_problem(first, path)
        return path or None, f"{path}: {first}" if path else str(first)
    return path or None, "The input is not valid."


def _rollback() -> None:
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except Exception:  # the connection itself is gone: answer without it
            log.warning("rollback after an API error failed", exc_info=True)
