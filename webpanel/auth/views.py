"""Login and logout."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from webpanel import access
from webpanel.auth import services
from webpanel.auth.forms import LoginForm
from webpanel.database import db

bp = Blueprint("auth", __name__, template_folder="templates")
access.public(bp)

MESSAGES = {
    services.Outcome.INVALID: "The virtual number or password is incorrect.",
    services.Outcome.LOCKED: ("Too many failed login attempts. This login is locked for "
                              f"{int(services.LOCK_DURATION.total_seconds() // 60)} minutes; "
                              "please try again later."),
    services.Outcome.INACTIVE: "This account is not active. Please contact customer support.",
}


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = access.safe_next(request.args.get("next"))
    if g.user is not None:
        return redirect(next_url or url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        session = db()
        result = services.attempt_login(session, form.login.data, form.password.data,
                                        remote_addr=request.remote_addr or "")
        session.commit()  # failures are counted even though the login is refused
        if result.outcome is services.Outcome.OK:
            access.login_session(result.user)
            return redirect(next_url or url_for("home.index"))
        flash(MESSAGES[result.outcome], "error")
        status = 429 if result.outcome is services.Outcome.LOCKED else 200
    return render_template("auth/login.html", form=form, next_url=next_url), status


@bp.post("/logout")
def logout():
    # POST only, and CSRFProtect checks the token: a cross-site page cannot log anyone out
    was_logged_in = g.user is not None
    access.logout_session()
    if was_logged_in:
        flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))
