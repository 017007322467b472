"""The dashboard after login."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from webpanel import access
from webpanel.database import db
from webpanel.home.queries import dashboard_numbers

bp = Blueprint("home", __name__, template_folder="templates")
access.restrict(bp, *access.EVERYONE)


@bp.get("/")
def index():
    numbers = dashboard_numbers(db(), g.user) if g.user.account_id is not None else []
    return render_template("home/index.html", numbers=numbers, account=g.user.account)
