"""Who may see what: the current user, per-blueprint access policies, ownership checks.

Every blueprint declares its policy once, next to its creation (after Indico's
RH classes and flaskr's `login_required`, but declared instead of re-typed per view):

    bp = Blueprint("registered", __name__, template_folder="templates")
    access.restrict(bp, *access.MEMBERS)     # or access.public(bp)

`create_app` refuses to start if a registered blueprint declares nothing (fail closed).
Objects addressed by a URL are loaded with `owned_or_404`, which answers 404 (not 403) for
another account's object so that ids cannot be probed.

A logged-in session is a row in panel_sessions (webpanel/auth/sessions.py) whose random token
the signed cookie carries: logout, a password change or an operator revokes the row, and the
cookie stops opening pages even if someone kept a copy of it.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous.encoding import base64_decode, bytes_to_int
from sqlalchemy import ColumnElement, and_, false, select
from sqlalchemy.sql import Select

from db.models import ROLES, User, VirtualNumber
from webpanel import nav
from webpanel.auth import sessions as panel_sessions
from webpanel.database import db, writing
from webpanel.i18n import _

PRIMARY, SECONDARY, ADMIN = "primary", "secondary", "admin"
MEMBERS = (PRIMARY, SECONDARY)
EVERYONE = tuple(ROLES)

SESSION_USER_ID = "user_id"
SESSION_VERSION = "session_version"
SESSION_TOKEN = "sid"  # the panel_sessions row's token (its SHA-256 is the row's key)

_POLICY_ATTR = "voip_access_policy"
OPENED_MAX = 10_000  # verified session cookies kept (PanelSessionInterface)

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    public: bool
    roles: frozenset[str]


def restrict(bp: Blueprint, *roles: str) -> None:
    """Every view of `bp` needs a logged-in user with one of `roles`."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"restrict() needs roles among {ROLES}, got {roles}")
    setattr(bp, _POLICY_ATTR, Policy(public=False, roles=frozenset(roles)))


def public(bp: Blueprint) -> None:
    """Every view of `bp` is reachable without logging in (login page, health check)."""
    setattr(bp, _POLICY_ATTR, Policy(public=True, roles=frozenset()))


def roles_required(*roles: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Narrow one view of a restricted blueprint further, e.g. primary-holder-only pages."""

    def decorator(view: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> T:
            if g.user is None or g.user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.voip_roles = frozenset(roles)  # type: ignore[attr-defined]  # read by the role tests
        return wrapped

    return decorator


def check_every_blueprint_declares_access(app: Flask) -> None:
    missing = [name for name, bp in app.blueprints.items() if not hasattr(bp, _POLICY_ATTR)]
    if missing:
        raise RuntimeError(f"blueprints without an access policy: {', '.join(sorted(missing))}")


class PanelSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure also when the request came over https: directly,
    or through a trusted TLS proxy (ProxyFix, webpanel/security.py, sets the scheme from
    X-Forwarded-Proto only when VOIP_PANEL_TRUSTED_PROXIES says a proxy is there)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or (has_request_context() and request.is_secure))

    def __init__(self) -> None:
        # issue 16: a cookie already verified (HMAC, decoded) opens again from here while its
        # signing time is within the lifetime: the cookie changes about once a minute, not on
        # every page. Only flat sessions (no flashes, no lists) are kept.
        self._opened: dict[tuple[Any, str], tuple[int, dict[str, Any]]] = {}

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        val = request.cookies.get(self.get_cookie_name(app))
        key = (app.secret_key, val)
        hit = self._opened.get(key) if val else None
        if hit is not None:
            signed_at, data = hit
            if int(time.time()) - signed_at <= int(app.permanent_session_lifetime.total_seconds()):
                return self.session_class(data)
            del self._opened[key]
        opened = super().open_session(app, request)
        if val and opened and all(type(v) in (str, int, bool) for v in opened.values()):
            try:
                signed_at = bytes_to_int(base64_decode(val.rsplit(".", 2)[1]))
            except (IndexError, ValueError, TypeError):
                return opened
            if len(self._opened) >= OPENED_MAX:
                self._opened.clear()
            self._opened[key] = (signed_at, dict(opened))
        return opened


def init_app(app: Flask) -> None:
    app.session_interface = PanelSessionInterface()
    app.before_request(load_logged_in_user)
    app.before_request(enforce_policy)


def session_limits() -> panel_sessions.Limits:
    settings = current_app.extensions["voip_settings"]
    return panel_sessions.Limits(
        lifetime=dt.timedelta(hours=settings.panel_session_hours),
        idle=dt.timedelta(minutes=settings.panel_idle_minutes),
    )


def load_logged_in_user() -> None:
    """Sets g.user (a User or None). A session that was revoked (logout, password change,
    operator), outlived its absolute lifetime or sat idle too long, whose user is gone, whose
    session_version was bumped or whose account is no longer active ends here.
    Cost: one query by primary key (panel_sessions joined to users and accounts), plus one
    small UPDATE of last_seen_at at most once a minute per session."""
    g.user = None
    if request.endpoint == "static":
        return
    user_id = session.get(SESSION_USER_ID)
    if user_id is None:
        return
    token = session.get(SESSION_TOKEN) or ""
    # the account comes in the same query: every member page reads it (status, time zone)
    # and the navigation's buddies (nav.SIDEBAR_COLUMN): a round trip fewer on every page
    user, touch_due, sidebar = panel_sessions.load(
        db(), token, user_id, session_limits(), extra=nav.SIDEBAR_COLUMN
    )
    if (
        user is None
        or user.session_version != session.get(SESSION_VERSION)
        or (user.account is not None and user.account.status != "active")
    ):
        session.clear()
        flash(_("Your session has ended. Please log in again."), "info")
        return
    if touch_due:
        with writing():
            panel_sessions.touch(db(), token)
        # the cookie re-signed with it (SESSION_REFRESH_EACH_REQUEST is off): its signing time
        # follows last_seen_at, so both idle limits slide together, once a minute
        session.modified = True
    g.user = user
    g.sidebar_buddies = nav.sidebar_rows(sidebar) if user.role in MEMBERS else []


def enforce_policy() -> Any:
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return None  # unknown URL: the 404 handler answers
    bp = current_app.blueprints.get(request.blueprint or "")
    policy: Policy | None = getattr(bp, _POLICY_ATTR, None)
    if policy is None:
        abort(403)  # an app-level route with no policy: fail closed
    if policy.public:
        return None
    if g.user is None:
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if g.user.role not in policy.roles:
        abort(403)
    return None


def login_session(user: User) -> None:
    """Start a fresh session for `user` (a new CSRF token too: nothing carries over)."""
    with writing():
        token = panel_sessions.start(
            db(), user, remote_addr=request.remote_addr or "", user_agent=request.user_agent.string
        )
    session.clear()
    session.permanent = True
    session[SESSION_USER_ID] = user.id
    session[SESSION_VERSION] = user.session_version
    session[SESSION_TOKEN] = token


def current_session_token() -> str:
    return str(session.get(SESSION_TOKEN) or "")


def logout_session() -> None:
    """End this session server-side too: a copy of the cookie opens nothing any more."""
    token = current_session_token()
    if token:
        with writing():
            panel_sessions.revoke(db(), token)
    session.clear()


def safe_next(target: str | None) -> str | None:
    """A post-login redirect target, only if it stays on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


# --- what the current user may see -------------------------------------------------------


def number_scope(user: User | None) -> ColumnElement[bool]:
    """The virtual numbers `user` may see: the whole account for the primary holder, only
    their own number for a secondary user, none through member pages for anyone else."""
    if user is None or user.account_id is None:
        return false()
    if user.role == PRIMARY:
        return VirtualNumber.account_id == user.account_id
    if user.role == SECONDARY:
        return and_(VirtualNumber.account_id == user.account_id, VirtualNumber.id == user.virtual_number_id)
    return false()


def visible_numbers(user: User | None) -> Select[tuple[VirtualNumber]]:
    return select(VirtualNumber).where(number_scope(user)).order_by(VirtualNumber.number)


def owned_or_404(model: type[T], ident: Any) -> T:
    """Load `model` by primary key, or 404 unless it belongs to the current user's account
    (and, for a secondary user, to their own virtual number)."""
    obj = db().get(model, ident)
    if obj is None or not _belongs_to_current_user(obj):
        abort(404)
    return obj


def virtual_number_or_404(number: str) -> VirtualNumber:
    """A virtual number addressed by its digits, within the current user's scope."""
    vn = db().scalar(visible_numbers(g.user).where(VirtualNumber.number == number))
    if vn is None:
        abort(404)
    return vn


def _belongs_to_current_user(obj: Any) -> bool:
    user: User | None = g.get("user")
    if user is None:
        return False
    if hasattr(obj, "user_id"):  # personal things: buddies, notes
        return obj.user_id == user.id
    if user.account_id is None:
        return False
    number_id: object  # a number's id, or _ACCOUNT_WIDE
    if isinstance(obj, VirtualNumber):
        number_id, account_id = obj.id, obj.account_id
    elif hasattr(obj, "account_id"):
        number_id, account_id = getattr(obj, "virtual_number_id", _ACCOUNT_WIDE), obj.account_id
    elif hasattr(obj, "virtual_number_id"):
        vn = db().get(VirtualNumber, obj.virtual_number_id)
        if vn is None:
            return False
        number_id, account_id = vn.id, vn.account_id
    else:
        raise TypeError(f"no ownership rule for {type(obj).__name__}")
    if account_id != user.account_id:
        return False
    if user.role == SECONDARY and number_id is not _ACCOUNT_WIDE:
        return number_id == user.virtual_number_id
    return True


_ACCOUNT_WIDE = object()
