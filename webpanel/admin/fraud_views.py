"""Operator admin: Fraud (issue 13). The calls the spending limits refused (fraud_events), the
accounts whose velocity rule tripped (lift), the SIP sources fail2ban banned (unban; through
controller.services.bans), the premium-rate ranges, and each account's limits: the ceilings of
its caps, its country allowance, maximum rate, concurrent calls, premium opt-in and velocity
thresholds (empty: the setting's default). Every action is audited (db.audit)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select, text
from wtforms import BooleanField, StringField
from wtforms.validators import Length

from controller.rules import limits as rules
from db import limits
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, PremiumPrefix, VirtualNumber
from webpanel.admin.blueprint import bp, get_or_404, remote, settings
from webpanel.admin.forms import ActionForm
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip


def _bans() -> tuple[bool, list[Any]]:
    """(whether the bans service exists, the bans now)."""
    try:
        from controller.services import bans
    except ImportError:
        return False, []
    return True, bans.list_bans(settings())


@bp.get("/fraud/")
def fraud():
    available, bans = _bans()
    s = db()
    return render_template(
        "admin/fraud.html",
        events=limits.recent_events(s),
        tripped=limits.tripped_accounts(s),
        bans=bans,
        bans_available=available,
        premium=s.scalars(select(PremiumPrefix).order_by(PremiumPrefix.prefix)).all(),
        action=ActionForm(),
        premium_form=PremiumForm(formdata=None),
    )


@bp.post("/fraud/lift/<int:account_id>")
def fraud_lift(account_id: int):
    get_or_404(Account, account_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    with writing():
        lifted = limits.lift(db(), account_id, actor=g.user, remote_addr=remote())
    if lifted:
        flash(_("Billable calls of account %(id)s may go out again.", id=account_id), "success")
    else:
        flash(_("Account %(id)s was not stopped.", id=account_id), "error")
    return redirect(url_for(".fraud"))


@bp.post("/fraud/unban")
def fraud_unban():
    available, _bans_now = _bans()
    form = ActionForm()
    address = (request.form.get("address") or "").strip()[:64]
    if not available or not form.validate_on_submit() or not address:
        abort(400)
    from controller.services import bans

    lifted = bans.unban(address, settings())
    with writing():
        audit(
            db(),
            "fraud.unban",
            actor=g.user,
            object_type="sip_ban",
            object_id=address,
            details={"lifted": lifted},
            remote_addr=remote(),
        )
    if lifted:
        flash(_("The ban of %(address)s was lifted.", address=address), "success")
    else:
        flash(_("%(address)s was not banned.", address=address), "error")
    return redirect(url_for(".fraud"))


class PremiumForm(FlaskForm):
    prefix = StringField(_l("Prefix"), [Length(max=15)], filters=[strip])
    description = StringField(_l("Description"), [Length(max=120)], filters=[strip])


@bp.post("/fraud/premium")
def fraud_premium_add():
    form = PremiumForm()
    prefix = form.prefix.data or ""
    if not form.validate_on_submit() or not prefix.isdigit() or not prefix.isascii() or len(prefix) > 15:
        flash(_("A premium-rate prefix is 1 to 15 digits, country code first."), "error")
        return redirect(url_for(".fraud"))
    with writing():
        s = db()
        if s.get(PremiumPrefix, prefix) is None:
            s.add(PremiumPrefix(prefix=prefix, description=form.description.data or ""))
            audit(
                s,
                "fraud.premium_add",
                actor=g.user,
                object_type="premium_prefixes",
                object_id=prefix,
                remote_addr=remote(),
            )
    flash(_("Premium-rate prefix %(prefix)s is blocked.", prefix=prefix), "success")
    return redirect(url_for(".fraud"))


@bp.post("/fraud/premium/<prefix>/delete")
def fraud_premium_delete(prefix: str):
    row = get_or_404(PremiumPrefix, prefix[:15])
    if not ActionForm().validate_on_submit():
        abort(400)
    with writing():
        db().delete(row)
        audit(
            db(),
            "fraud.premium_delete",
            actor=g.user,
            object_type="premium_prefixes",
            object_id=row.prefix,
            remote_addr=remote(),
        )
    flash(_("Premium-rate prefix %(prefix)s was removed.", prefix=row.prefix), "success")
    return redirect(url_for(".fraud"))


# --- an account's limits ------------------------------------------------------------------------


class OperatorLimitsForm(FlaskForm):
    daily_cap_ceiling = StringField(_l("Daily spend cap ceiling"), [Length(max=20)], filters=[strip])
    intl_daily_cap_ceiling = StringField(
        _l("International daily cap ceiling"), [Length(max=20)], filters=[strip]
    )
    countries_allowed = StringField(_l("Countries allowed"), [Length(max=800)], filters=[strip])
    max_rate = StringField(_l("Maximum rate per minute"), [Length(max=20)], filters=[strip])
    max_concurrent = StringField(_l("Concurrent calls"), [Length(max=6)], filters=[strip])
    velocity_intl_attempts = StringField(
        _l("Velocity: international calls"), [Length(max=6)], filters=[strip]
    )
    velocity_amount = StringField(_l("Velocity: amount"), [Length(max=20)], filters=[strip])
    velocity_minutes = StringField(_l("Velocity: minutes"), [Length(max=6)], filters=[strip])
    premium_opt_in = BooleanField(_l("Premium-rate destinations allowed"))


MONEY_FIELDS = ("daily_cap_ceiling", "intl_daily_cap_ceiling", "max_rate", "velocity_amount")
INT_FIELDS = ("max_concurrent", "velocity_intl_attempts", "velocity_minutes")


def _operator_values(form: OperatorLimitsForm) -> dict[str, Any]:
    """The form's values (empty: None, the setting's default), or ServiceError."""
    values: dict[str, Any] = {}
    for name in MONEY_FIELDS:
        raw = form[name].data or ""
        if not raw:
            values[name] = None
            continue
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite() or value < 0 or value > 100000:
            raise ServiceError(
                _("%(field)s: enter an amount between 0 and 100000.", field=form[name].label.text)
            )
        values[name] = value
    for name in INT_FIELDS:
        raw = form[name].data or ""
        if not raw:
            values[name] = None
        elif raw.isascii() and raw.isdigit() and int(raw) <= 100000:
            values[name] = int(raw)
        else:
            raise ServiceError(_("%(field)s: enter a whole number.", field=form[name].label.text))
    countries, bad = rules.parse_countries(form.countries_allowed.data or "")
    if bad:
        raise ServiceError(_("Not a two-letter country code: %(codes)s.", codes=", ".join(bad)))
    values["countries_allowed"] = countries or None
    values["premium_opt_in"] = bool(form.premium_opt_in.data)
    return values


def _limits_page(account: Account, form: OperatorLimitsForm, status: int = 200):
    view = limits.account_view(db(), account.id, settings())
    numbers = db().scalars(select(VirtualNumber).where(VirtualNumber.account_id == account.id)).all()
    number_limits = {
        r[0]: r
        for r in db().execute(
            text(
                "SELECT virtual_number_id, countries, max_concurrent FROM number_limits"
                " WHERE virtual_number_id IN (SELECT id FROM virtual_numbers WHERE account_id = :a)"
            ),
            {"a": account.id},
        )
    }
    return render_template(
        "admin/account_limits.html",
        account=account,
        view=view,
        form=form,
        numbers=numbers,
        number_limits=number_limits,
        action=ActionForm(),
    ), status


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# one rule for both methods: an id out of range then answers 404 to either (two rules on one
# path would answer 405 to the POST, the GET rule's path matching before its converter refuses)
@bp.route("/accounts/<int:account_id>/limits", methods=["GET", "POST"])
def account_limits(account_id: int):
    account = get_or_404(Account, account_id)
    if request.method == "POST":
        return _account_limits_update(account)
    view = limits.account_view(db(), account.id, settings())
    form = OperatorLimitsForm(
        formdata=None,
        **{name: _text(getattr(view, name)) for name in (*MONEY_FIELDS, *INT_FIELDS)},
        countries_allowed=" ".join(view.countries_allowed or ()),
        premium_opt_in=view.premium_opt_in,
    )
    return _limits_page(account, form)


def _account_limits_update(account: Account):
    form = OperatorLimitsForm()
    if form.validate_on_submit():
        try:
            values = _operator_values(form)
            with writing():
                limits.set_operator_limits(db(), account.id, actor=g.user, remote_addr=remote(), **values)
        except ServiceError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("The limits of account %(id)s were updated.", id=account.id), "success")
            return redirect(url_for(".account_limits", account_id=account.id))
    return _limits_page(account, form, status=400)


@bp.post("/accounts/<int:account_id>/numbers/<int:vn_id>/limits")
def number_limits_update(account_id: int, vn_id: int):
    account = get_or_404(Account, account_id)
    vn = get_or_404(VirtualNumber, vn_id)
    if vn.account_id != account.id or not ActionForm().validate_on_submit():
        abort(404)
    countries, bad = rules.parse_countries(request.form.get("countries", "")[:800])
    raw = (request.form.get("max_concurrent") or "").strip()
    if bad or (raw and not (raw.isascii() and raw.isdigit() and int(raw) <= 100000)):
        flash(_("Enter two-letter country codes and a whole number of calls."), "error")
        return redirect(url_for(".account_limits", account_id=account.id))
    with writing():
        limits.set_number_limits(
            db(),
            vn.id,
            countries=countries or None,
            max_concurrent=int(raw) if raw else None,
            actor=g.user,
            account_id=account.id,
            remote_addr=remote(),
        )
    flash(_("The limits of %(number)s were updated.", number=vn.number), "success")
    return redirect(url_for(".account_limits", account_id=account.id))
