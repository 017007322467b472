"""Login and logout; "Forgot password" and the reset link it emails (auth/recovery.py)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale

from webpanel import access
from webpanel.auth import mailbox, recovery, services
from webpanel.auth.forms import ForgotPasswordForm, LoginForm, ResetPasswordForm
from webpanel.database import db, writing
from webpanel.i18n import DEFAULT, SUPPORTED, _, service_message
from webpanel.password import services as password_services
from webpanel.twofactor import views as twofactor
from webpanel.validation import attach_errors

bp = Blueprint("auth", __name__, template_folder="templates")
access.public(bp)


def _message(outcome: services.Outcome, limits: services.LoginLimits) -> str:
    if outcome is services.Outcome.LOCKED:
        return _(
            "Too many failed login attempts. This login is locked for "
            "%(minutes)s minutes; please try again later.",
            minutes=limits.minutes,
        )
    if outcome is services.Outcome.ADDRESS_LIMITED:
        return _(
            "Too many requests from your network. Please try again in %(minutes)s minutes.",
            minutes=limits.minutes,
        )
    if outcome is services.Outcome.INACTIVE:
        return _("This account is not active. Please contact customer support.")
    return _("The virtual number or password is incorrect.")


REFUSED = (services.Outcome.LOCKED, services.Outcome.ADDRESS_LIMITED)


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = access.safe_next(request.args.get("next"))
    if g.user is not None:
        return redirect(next_url or url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        limits = services.LoginLimits.from_settings(_settings())
        # the attempt is counted and committed first (one atomic statement), then the password
        # is checked only within the limits: a concurrent burst gets no more checks than that
        with writing():
            attempt = services.count_attempt(
                db(), form.login.data, remote_addr=request.remote_addr or "", limits=limits
            )
        with writing():
            result = services.check_login(db(), attempt, form.password.data)
        if result.outcome is services.Outcome.OK and result.user is not None:
            # issue 16: the code step first when two-factor login is on; the browser recorded
            return twofactor.after_password(result.user, next_url)
        flash(_message(result.outcome, limits), "error")
        status = 429 if result.outcome in REFUSED else 200
    return render_template("auth/login.html", form=form, next_url=next_url), status


@bp.post("/logout")
def logout():
    # POST only, and CSRFProtect checks the token: a cross-site page cannot log anyone out
    was_logged_in = g.user is not None
    access.logout_session()
    if was_logged_in:
        flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))


# --- account recovery ----------------------------------------------------------------------


def _settings():
    return current_app.extensions["voip_settings"]


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    if g.user is not None:
        return redirect(url_for("home.index"))
    form = ForgotPasswordForm()
    if not form.is_submitted():
        return render_template("auth/forgot.html", form=form)
    if not form.validate():
        return render_template("auth/forgot.html", form=form), 400
    remote_addr = request.remote_addr or ""
    with writing():
        allowed = recovery.allow_address(db(), remote_addr)
    if not allowed:
        flash(
            _(
                "Too many requests from your network. Please try again in %(minutes)s minutes.",
                minutes=int(recovery.REQUEST_WINDOW.total_seconds() // 60),
            ),
            "error",
        )
        return render_template("auth/forgot.html", form=form), 429
    # the lookup, the link and the email happen after the answer: the same answer, as fast,
    # whether or not anything matched (PRG: a reload sends nothing again)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the app, not the proxy
    mailbox.later(_send_reset_links, app, form.identifier.data, remote_addr)
    return redirect(url_for("auth.forgot_sent"))


@bp.get("/forgot-password/sent")
def forgot_sent():
    return render_template("auth/forgot_sent.html", minutes=_settings().password_reset_minutes)


def _send_reset_links(app, identifier: str, remote_addr: str) -> None:
    """Background job: a link for each matching login, emailed in its member's language."""
    with app.app_context():
        settings = _settings()
        with writing():
            links = recovery.request_reset(
                db(),
                identifier,
                remote_addr=remote_addr,
                lifetime=dt.timedelta(minutes=settings.password_reset_minutes),
            )
            paths = app.url_map.bind("localhost", script_name=app.config.get("APPLICATION_ROOT") or "/")
            mails = [
                _reset_email(settings, link, paths.build("auth.reset_password", {"token": link.token}))
                for link in links
            ]
    mailbox.send(settings, mails)


def _reset_email(settings, link: recovery.ResetLink, path: str) -> mailbox.Outgoing:
    """The email in the member's language; the link is built on VOIP_PANEL_URL, never on the
    request's Host header (which the requester chooses)."""
    url = settings.panel_base_url + path
    with force_locale(link.language if link.language in SUPPORTED else DEFAULT):
        subject = _("Reset your Member Control Panel password")
        body = _(
            "Hello,\n\n"
            "Someone (we hope you) asked to reset the password of the Member Control Panel "
            "login %(login)s.\n\n"
            "To choose a new password, open this link within %(minutes)s minutes. It works once:\n\n"
            "%(url)s\n\n"
            "If you did not ask for it, ignore this email: your password stays as it is.\n",
            login=link.login,
            minutes=settings.password_reset_minutes,
            url=url,
        )
    return mailbox.Outgoing(link.email, str(subject), str(body))


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    session = db()
    # opening the link (a mail scanner may) changes nothing; only the POST uses it
    reset = recovery.find_valid(session, token, for_update=request.method == "POST")
    if reset is None:
        return _no_referrer(render_template("auth/reset_invalid.html"), 410)
    form = ResetPasswordForm()
    if not form.is_submitted():
        return _no_referrer(
            render_template(
                "auth/reset.html", form=form, token=token, min_length=password_services.MIN_LENGTH
            ),
            200,
        )
    if form.validate():
        problems = password_services.check_strength(form.new_password.data, reset.user.login)
        errors: dict[str, list[str]] = {}
        if problems:
            errors["new_password"] = [service_message(p) for p in problems]
        if form.new_password.data != form.retype.data:
            errors["retype"] = [_("The new password and its retype do not match.")]
        if not errors:
            with writing():  # ends the transaction that locked the link (find_valid)
                recovery.reset_password(
                    session, reset, form.new_password.data, remote_addr=request.remote_addr or ""
                )
            access.logout_session()  # whoever was logged in here: start clean
            flash(
                _(
                    "Your password has been reset and every session of this login has ended. "
                    "Please log in with your new password."
                ),
                "success",
            )
            return redirect(url_for("auth.login"))
        attach_errors(form, errors)
    session.rollback()  # nothing was written: the link's row lock ends before the page renders
    return _no_referrer(
        render_template("auth/reset.html", form=form, token=token, min_length=password_services.MIN_LENGTH),
        400,
    )


def _no_referrer(body: str, status: int):
    """The token is in this page's URL: no Referer carries it away, no cache keeps it."""
    response = make_response(body, status)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
