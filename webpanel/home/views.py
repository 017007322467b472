"""Home: a dashboard that answers "is my line OK?" (issue 16).

Balance and today's spend, new voicemail, missed calls since the last visit, plan minutes
left, and each number's registration (devices now, last seen, the last refusal and its reason),
then the numbers table. Two statements (three for an account without numbers) and a commit:
the dashboard's statement also records the visit (users.home_seen_at; not audited, a page
view), and the missed calls shown count from the visit before.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, render_template

from webpanel import access
from webpanel.database import db, writing
from webpanel.home import queries
from webpanel.home.diagnosis import reason

bp = Blueprint("home", __name__, template_folder="templates")
access.restrict(bp, *access.EVERYONE)


@bp.get("/")
def index():
    user = g.user
    if user.account_id is None:
        return render_template("home/index.html", account=None, figures=None, numbers=[], missed=None)
    session = db()
    now = dt.datetime.now(dt.UTC)
    with writing():  # the visit, recorded by the dashboard's own statement, is committed here
        board = queries.dashboard(session, user, seen=now)
        missed = queries.missed_since(session, board.joined, user.home_seen_at, now)
        page = render_template(
            "home/index.html",
            account=user.account,
            figures=board.figures,
            numbers=board.numbers,
            missed=missed,
            reason=reason,
        )
    return page
