"""Two-factor login pages (issue 16; the rules are in services.py).

- `login_bp` (public): the login's code step, /login/code. After a right password, a user with
  2FA on and no remembered browser gets a signed, short-lived "password ok, awaiting code"
  state in the session cookie (services.Pending, 5 minutes), NOT a logged-in session; the
  session starts only once a code is accepted (`complete_login`).
- `bp` (every logged-in user): the Two-factor login page: enrol (QR + secret, confirmed by a
  code), recovery codes (shown once), turn off (password + code), known browsers (forget).
- `enforce_admin_enrolment`: with VOIP_ADMIN_2FA_REQUIRED on, an operator admin without 2FA
  reaches nothing but this page (and logout) until enrolled.
"""

from __future__ import annotations

import datetime as dt

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale

from db.audit import audit
from db.models import User, UserDevice
from webpanel import access
from webpanel.auth import mailbox, recovery
from webpanel.auth import services as auth_services
from webpanel.database import db, writing
from webpanel.filters import localtime
from webpanel.i18n import DEFAULT, SUPPORTED, _
from webpanel.twofactor import services
from webpanel.twofactor.forms import ConfirmForm, DisableForm, LoginCodeForm, PlainForm

bp = Blueprint("twofactor", __name__, url_prefix="/two-factor", template_folder="templates")
access.restrict(bp, *access.EVERYONE)
login_bp = Blueprint("twofactor_login", __name__, template_folder="templates")
access.public(login_bp)

PENDING_KEY = "twofactor_pending"
# what an admin who must enrol may still reach
ENROLMENT_ENDPOINTS = frozenset(
    {"twofactor.index", "twofactor.enrol", "twofactor.confirm", "auth.logout", "auth.login", "static"}
)


def _settings():
    return current_app.extensions["voip_settings"]


def _addr() -> str:
    return request.remote_addr or ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the operator's rule: admins enrol first ----------------------------------------------------


@bp.before_app_request
def enforce_admin_enrolment():
    user = g.get("user")
    if user is None or user.role != access.ADMIN or not _settings().admin_2fa_required:
        return None
    if services.is_enabled(user) or request.endpoint in ENROLMENT_ENDPOINTS or request.endpoint is None:
        return None
    if request.path.startswith("/api/"):  # the REST API answers to its bearer tokens, not to sessions
        return None
    flash(_("The operator requires two-factor login for admins. Please turn it on to continue."), "info")
    return redirect(url_for("twofactor.index"), 303)


# --- login: after the password ------------------------------------------------------------------


def after_password(user: User, next_url: str | None):
    """The login form accepted the password: log in, or ask for the code first."""
    if services.is_enabled(user):
        device = services.find_device(db(), user.id, request.cookies.get(services.DEVICE_COOKIE))
        if not services.remembered(device, _now()):
            with writing():  # the password was right; the login is recorded after the code
                audit(
                    db(),
                    "auth.2fa_required",
                    actor=user,
                    account_id=user.account_id,
                    obj=user,
                    remote_addr=_addr(),
                )
            session.clear()
            session[PENDING_KEY] = services.Pending(
                user.id, user.session_version, _now().timestamp(), next_url
            ).as_dict()
            return redirect(url_for("twofactor_login.code"))
        return complete_login(user, next_url, remember=False, second_factor="remembered")
    return complete_login(user, next_url, remember=False)


def complete_login(user: User, next_url: str | None, *, remember: bool, second_factor: str | None = None):
    """Start the session; record the browser (cookie, new-device email). With two-factor
    login on, the login is recorded here (`second_factor`: how it was passed), not at the
    password (auth.services.check_login)."""
    with writing():
        if second_factor is not None:
            auth_services.record_login(
                db(), user, remote_addr=_addr(), details={"second_factor": second_factor}
            )
        arrival = services.arrive(
            db(),
            user,
            request.cookies.get(services.DEVICE_COOKIE),
            remote_addr=_addr(),
            user_agent=request.user_agent.string,
            remember=remember,
        )
        mail = _new_device_mail(user, arrival.device) if arrival.notify else None
    access.login_session(user)
    response = redirect(next_url or url_for("home.index"))
    if arrival.new_token:
        response.set_cookie(
            services.DEVICE_COOKIE,
            arrival.new_token,
            max_age=services.DEVICE_COOKIE_DAYS * 86400,
            path=request.script_root or "/",
            httponly=True,
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE") or request.is_secure),
            samesite="Lax",
        )
    if mail is not None:
        mailbox.later(mailbox.send, _settings(), [mail])
    return response


def _pending_user() -> tuple[services.Pending, User] | None:
    pending = services.Pending.from_dict(session.get(PENDING_KEY))
    if pending is None or pending.expired(_now()):
        return None
    user = db().get(User, pending.user_id)
    if (
        user is None
        or user.session_version != pending.session_version
        or not services.is_enabled(user)
        or (user.account is not None and user.account.status != "active")
        or services.logged_in_since(db(), user.id, pending.started)
    ):
        return None
    return pending, user


@login_bp.route("/login/code", methods=["GET", "POST"])
def code():
    if g.user is not None:
        return redirect(url_for("home.index"))
    found = _pending_user()
    if found is None:
        had_pending = PENDING_KEY in session
        session.pop(PENDING_KEY, None)
        if had_pending:
            flash(_("Your login waited too long for its code. Please log in again."), "info")
        return redirect(url_for("auth.login"))
    pending, user = found
    form = LoginCodeForm()
    status = 200
    if form.validate_on_submit():
        with writing():
            taken = services.take_attempt(db(), user, _addr())
        if not taken.allowed:
            session.pop(PENDING_KEY, None)
            flash(_locked_message(), "error")
            return redirect(url_for("auth.login"), 303)
        with writing():
            verdict = services.check_code(
                db(), user, form.code.data, secret_key=_settings().secret_key, remote_addr=_addr()
            )
            if verdict is not services.Verdict.OK:
                services.code_failed(db(), user, verdict, _addr())
        if verdict is services.Verdict.OK:
            return complete_login(
                user, pending.next_url, remember=bool(form.remember.data), second_factor="code"
            )
        form.code.errors = [_code_message(verdict)]
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("twofactor/code.html", form=form), status


def _locked_message() -> str:
    return _(
        "Too many wrong codes. Two-factor login is locked for %(minutes)s minutes; please try again later.",
        minutes=int(services.CODE_WINDOW.total_seconds() // 60),
    )


def _code_message(verdict: services.Verdict) -> str:
    if verdict is services.Verdict.REPLAY:
        return _("That code was already used. Wait for the next code in your app.")
    return _("That code is not right. Check that your phone's clock is correct and try again.")


# --- the Two-factor login page ------------------------------------------------------------------


def _issuer() -> str:
    return (getattr(_settings(), "operator_name", "") or "").strip() or "VoIP"


def _render_index(*, confirm=None, disable=None, regen=None, status: int = 200):
    user = g.user
    enabled = services.is_enabled(user)
    secret = None if enabled else services.pending_secret(user, _settings().secret_key)
    qr = uri = None
    if secret is not None:
        uri = services.provisioning_uri(secret, user.login, _issuer())
        qr = services.qr_svg(uri, _("QR code for your authenticator app"))
    token = request.cookies.get(services.DEVICE_COOKIE)
    this_hash = services.device_hash(token) if token else ""
    # one url_for for every browser's Forget form (a member's browsers may be many)
    head, _sep, tail = url_for(".forget", device_id=0).rpartition("/0/")
    known = services.devices(db(), user.id)
    # only what this state of the page shows: forms, the recovery codes' count (issue 16: CPU)
    return (
        render_template(
            "twofactor/index.html",
            enabled=enabled,
            secret=secret,
            secret_groups=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) if secret else "",
            qr=qr,
            codes_left=services.recovery_codes_left(db(), user.id) if enabled else 0,
            devices=known.shown,
            devices_total=known.total,
            this_hash=this_hash,
            now=_now(),
            browser_name=services.browser_name,
            forget_url=lambda device_id: f"{head}/{int(device_id)}/{tail}",
            plain=PlainForm(),
            confirm=confirm or (ConfirmForm() if secret is not None else None),
            disable=disable or (DisableForm(prefix="disable") if enabled else None),
            regen=regen or (ConfirmForm(prefix="regen") if enabled else None),
        ),
        status,
    )


@bp.get("/")
def index():
    return _render_index()


@bp.post("/enrol")
def enrol():
    form = PlainForm()
    if not form.validate():
        abort(400)
    if services.is_enabled(g.user):
        flash(_("Two-factor login is already on."), "info")
        return redirect(url_for(".index"), 303)
    with writing():
        services.start_enrolment(db(), g.user, secret_key=_settings().secret_key, remote_addr=_addr())
    return redirect(url_for(".index", _anchor="enrol"), 303)


def _take_or_refuse(form, field) -> bool:
    with writing():
        taken = services.take_attempt(db(), g.user, _addr())
    if not taken.allowed:
        field.errors = [_locked_message()]
        return False
    return True


@bp.post("/confirm")
def confirm():
    form = ConfirmForm()
    if services.is_enabled(g.user) or services.pending_secret(g.user, _settings().secret_key) is None:
        return redirect(url_for(".index"), 303)
    if not form.validate():
        return _render_index(confirm=form, status=400)
    if not _take_or_refuse(form, form.code):
        return _render_index(confirm=form, status=429)
    with writing():
        verdict, codes = services.confirm_enrolment(
            db(), g.user, form.code.data, secret_key=_settings().secret_key, remote_addr=_addr()
        )
    if verdict is not services.Verdict.OK:
        form.code.errors = [_code_message(verdict)]
        return _render_index(confirm=form, status=400)
    _mail_user(g.user, on=True)
    flash(_("Two-factor login is on."), "success")
    return _codes_page(codes)


@bp.post("/recovery-codes")
def regenerate():
    form = ConfirmForm(prefix="regen")
    if not services.is_enabled(g.user):
        return redirect(url_for(".index"), 303)
    if not form.validate():
        return _render_index(regen=form, status=400)
    if not _take_or_refuse(form, form.code):
        return _render_index(regen=form, status=429)
    with writing():
        verdict, codes = services.regenerate_recovery_codes(
            db(), g.user, form.code.data, secret_key=_settings().secret_key, remote_addr=_addr()
        )
    if verdict is not services.Verdict.OK:
        form.code.errors = [_code_message(verdict)]
        return _render_index(regen=form, status=400)
    flash(_("New recovery codes were made; the old ones no longer work."), "success")
    return _codes_page(codes)


def _codes_page(codes: list[str]):
    response = make_response(render_template("twofactor/codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/disable")
def disable():
    form = DisableForm(prefix="disable")
    if not services.is_enabled(g.user):
        return redirect(url_for(".index"), 303)
    if not form.validate():
        return _render_index(disable=form, status=400)
    if not _take_or_refuse(form, form.code):
        return _render_index(disable=form, status=429)
    with writing():
        problems = services.disable(
            db(),
            g.user,
            form.password.data,
            form.code.data,
            secret_key=_settings().secret_key,
            remote_addr=_addr(),
        )
    if problems:
        if "password" in problems:
            form.password.errors = [_("Your password is not correct.")]
        if "code" in problems:
            form.code.errors = [_code_message(services.Verdict(problems["code"]))]
        return _render_index(disable=form, status=400)
    _mail_user(g.user, on=False)
    flash(_("Two-factor login is off."), "success")
    return redirect(url_for(".index"), 303)


@bp.post("/devices/<int:device_id>/forget")
def forget(device_id: int):
    form = PlainForm()
    if not form.validate():
        abort(400)
    device = access.owned_or_404(UserDevice, device_id)
    with writing():
        services.forget_device(db(), g.user, device, remote_addr=_addr())
    flash(_("That browser is forgotten: its next login asks for everything again."), "success")
    return redirect(url_for(".index", _anchor="devices"), 303)


@bp.post("/devices/forget-all")
def forget_all():
    form = PlainForm()
    if not form.validate():
        abort(400)
    with writing():
        services.forget_all(db(), g.user, remote_addr=_addr())
    flash(_("Every browser is forgotten."), "success")
    return redirect(url_for(".index", _anchor="devices"), 303)


# --- emails --------------------------------------------------------------------------------------


def _language(user: User) -> str:
    language = user.account.language if user.account is not None else ""
    return language if language in SUPPORTED else DEFAULT


def _zone(user: User) -> str:
    return user.account.time_zone if user.account is not None and user.account.time_zone else "UTC"


def _mail_user(user: User, *, on: bool) -> None:
    to = recovery.recovery_email(user)
    if not to:
        return
    with force_locale(_language(user)):
        when = localtime(_now(), _zone(user))
        if on:
            subject = _("Two-factor login is on")
            body = _(
                "Hello,\n\nTwo-factor login was turned on for the Member Control Panel login "
                "%(login)s at %(when)s (%(zone)s), from %(address)s.\n\n"
                "If this wasn't you, change your password and contact customer support.\n",
                login=user.login,
                when=when,
                zone=_zone(user),
                address=_addr() or "?",
            )
        else:
            subject = _("Two-factor login is off")
            body = _(
                "Hello,\n\nTwo-factor login was turned off for the Member Control Panel login "
                "%(login)s at %(when)s (%(zone)s), from %(address)s.\n\n"
                "If this wasn't you, change your password and contact customer support.\n",
                login=user.login,
                when=when,
                zone=_zone(user),
                address=_addr() or "?",
            )
    mailbox.later(mailbox.send, _settings(), [mailbox.Outgoing(to, str(subject), str(body))])


def _new_device_mail(user: User, device: UserDevice) -> mailbox.Outgoing | None:
    to = recovery.recovery_email(user)
    if not to:
        return None
    with force_locale(_language(user)):
        subject = _("New sign-in to your account")
        body = _(
            "Hello,\n\nThere was a new sign-in to the Member Control Panel login %(login)s "
            "from %(address)s, %(browser)s, at %(when)s (%(zone)s).\n\n"
            "If this wasn't you, change your password now.\n",
            login=user.login,
            address=device.remote_addr or "?",
            browser=services.browser_name(device.user_agent),
            when=localtime(device.created_at, _zone(user)),
            zone=_zone(user),
        )
    return mailbox.Outgoing(to, str(subject), str(body))
