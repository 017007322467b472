"""The help page's "Registered Users" section."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from webpanel import access
from webpanel.database import db
from webpanel.registered.queries import registrations

bp = Blueprint("registered", __name__, url_prefix="/registered-users", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    rows = registrations(db(), g.user)
    return render_template("registered/index.html", registrations=rows, time_zone=g.user.account.time_zone)
