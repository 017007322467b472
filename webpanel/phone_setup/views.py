"""Issue 16: Phone setup (what to type into a phone, with copy buttons and a QR code) and
"Check my registration" (why the phone is or is not registered, in words).

Read-only pages: everything a member sees here is theirs (access.virtual_number_or_404).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, g, render_template, request

from db.models import VirtualNumber
from webpanel import access
from webpanel.database import db
from webpanel.home import queries
from webpanel.home.diagnosis import explain, near_miss, reason
from webpanel.i18n import _
from webpanel.phone_setup import qr

bp = Blueprint("phone_setup", __name__, url_prefix="/phone-setup", template_folder="templates")
access.restrict(bp, *access.MEMBERS)

TRANSPORT = "udp"  # members' phones register over UDP (asterisk_conf pjsip.conf: transport-udp)


def account_of(number: str) -> qr.Account:
    s = current_app.extensions["voip_settings"]
    return qr.Account(
        server=s.sip_public_host or s.sip_realm,
        port=s.sip_port,
        transport=TRANSPORT,
        realm=s.sip_realm,
        user=number,
    )


@bp.app_template_global()
def sip_account_qr(number: str, password: str | None = None):
    """The QR code of `number`'s account (with `password`: only on the response that set it)."""
    account = account_of(number)
    title = _("QR code for %(number)s", number=number)
    return qr.svg(account.uri(password), title) if password else qr.account_svg(account.uri(), title)


def _numbers() -> list[str]:
    return list(db().scalars(access.visible_numbers(g.user).with_only_columns(VirtualNumber.number)))


def _chosen(numbers: list[str], wanted: str | None) -> str:
    if wanted:
        return access.virtual_number_or_404(wanted).number
    if g.user.login in numbers:
        return g.user.login
    if not numbers:
        abort(404)
    return numbers[0]


@bp.get("/")
def index():
    numbers = _numbers()
    number = _chosen(numbers, request.args.get("number", "").strip() or None)
    account = account_of(number)
    return render_template(
        "phone_setup/index.html",
        numbers=numbers,
        number=number,
        account=account,
        uri=account.uri(),
        qr=qr.account_svg(account.uri(), _("QR code for %(number)s", number=number)),
    )


@bp.get("/<number>/qr.png")
def qr_png(number: str):
    vn = access.virtual_number_or_404(number)
    body = qr.png(account_of(vn.number).uri())
    return Response(body, mimetype="image/png", headers={"Cache-Control": "private, no-store"})


@bp.get("/<number>/check")
def check(number: str):
    vn = access.virtual_number_or_404(number)
    state = queries.dashboard(db(), g.user, only=vn.id).numbers[0]
    realm = current_app.extensions["voip_settings"].sip_realm
    near = None if state.devices else near_miss(db(), vn.number, realm)
    return render_template(
        "phone_setup/check.html",
        state=state,
        findings=explain(state, near),
        reason=reason,
        account=account_of(vn.number),
    )
