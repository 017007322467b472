"""Operator admin: money by hand (issue 15). On an account's page (admin/_money.html, included by
admin/account.html): the balance, what is available (the balance minus the credit open calls
hold), the latest ledger entries, and a form to credit, debit or refund the account with a
required reason. The change is db.ledger.adjust's (checked there, one rule for every caller,
audited as admin.credit_adjust); the member sees it with its reason on the Plans & Credit page."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, g, redirect, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField

from db import billing, ledger
from db.models import Account
from webpanel.admin import views
from webpanel.admin.blueprint import bp, form_errors, get_or_404, remote
from webpanel.choices import options
from webpanel.database import db, writing
from webpanel.filters import usd
from webpanel.i18n import N_, _
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip

LATEST = 15  # ledger entries shown on the account page
_CHARGE_ID = re.compile(r"[0-9]{1,18}", re.ASCII)
REFUND_CHOICES = 50  # the latest charges offered to a refund

KIND_LABELS = {"credit": _l("Credit (add money)"), "debit": _l("Debit (take money)"), "refund": _l("Refund")}
ENTRY_LABELS = {
    "voucher": _l("Voucher"),
    "payment": _l("Payment"),
    "admin": _l("Operator credit"),
    "demo": _l("Demo credit"),
    "charge": _l("Call charge"),
    "plan_fee": _l("Plan fee"),
    "credit": _l("Credit"),
    "debit": _l("Debit"),
    "refund": _l("Refund"),
}

# db.ledger.MESSAGES in the operator's language (the same strings, marked for the catalog)
MESSAGES = (
    N_("Choose credit, debit or refund."),
    N_("Enter an amount greater than zero, such as 5 or 12.50."),
    N_("An amount has at most 4 decimal places."),
    N_("An amount is at most %(max)s."),
    N_("A reason is required."),
    N_("A reason has at most 500 characters."),
    N_("A reason may not contain control characters."),
    N_("No such account."),
    N_("Only an operator can move money by hand."),
    N_("Charge %(charge)s is not a charge of this account."),
    N_("A refund of charge %(charge)s can be at most %(left)s (its cost minus earlier refunds)."),
    N_("Only a refund names a charge."),
    N_("A debit of %(amount)s is more than the available balance of %(available)s."),
)
assert set(MESSAGES) == set(ledger.MESSAGES)  # every message db.ledger raises is translated
FIELD_OF = {
    "Choose credit, debit or refund.": "kind",
    "Enter an amount greater than zero, such as 5 or 12.50.": "amount",
    "An amount has at most 4 decimal places.": "amount",
    "An amount is at most %(max)s.": "amount",
    "A debit of %(amount)s is more than the available balance of %(available)s.": "amount",
    "A reason is required.": "reason",
    "A reason has at most 500 characters.": "reason",
    "A reason may not contain control characters.": "reason",
    "Charge %(charge)s is not a charge of this account.": "charge",
    "A refund of charge %(charge)s can be at most %(left)s (its cost minus earlier refunds).": "charge",
    "Only a refund names a charge.": "charge",
}


class MoneyForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=options(KIND_LABELS.items()), validate_choice=False)
    amount = StringField(_l("Amount (US dollars)"), filters=[strip])
    reason = TextAreaField(_l("Reason (the member sees it)"), filters=[strip])
    charge = SelectField(_l("Call refunded (optional, for a refund)"), validate_choice=False)


def money_form(account_id: int, form: MoneyForm | None = None) -> MoneyForm:
    form = form or MoneyForm(formdata=None)
    charges = ledger.account_charges(db(), account_id, REFUND_CHOICES)
    form.charge.choices = options(
        [("", _("— none —"))]
        + [
            (
                str(c.id),
                _(
                    "#%(id)s %(when)s to %(dialed)s, %(cost)s (refundable %(left)s)",
                    id=c.id,
                    when=c.at.strftime("%Y-%m-%d %H:%M") if c.at else "",
                    dialed=c.dialed or "?",
                    cost=usd(c.cost),
                    left=usd(c.refundable),
                ),
            )
            for c in charges
            if c.refundable > 0
        ]
    )
    return form


@bp.app_template_global("admin_money")
def admin_money(account_id: int, form: MoneyForm | None = None) -> dict[str, Any]:
    """What admin/_money.html shows: the balance, the available balance, the latest entries
    and the form (the posted one, with its messages, after a refusal)."""
    s = db()
    return {
        "balance": ledger.balance(s, account_id),
        "available": billing.available_balance(s, account_id, None).credit,
        "entries": ledger.entries(s, account_id, LATEST),
        "labels": ENTRY_LABELS,
        "form": money_form(account_id, form),
    }


class _AlreadyShown(Exception):
    """The form's fields carry their messages: nothing to add, nothing changed."""


def _input_errors(form: MoneyForm) -> dict[str, str]:
    """What is wrong with the kind, the amount and the reason, each checked as ledger.adjust
    checks it, all at once (adjust stops at the first)."""
    wrong: dict[str, str] = {}
    if (form.kind.data or "") not in ledger.KINDS:
        wrong["kind"] = say(ledger.AdjustmentError("Choose credit, debit or refund."))
    for name, check in (("amount", ledger.parse_amount), ("reason", ledger.parse_reason)):
        try:
            check(getattr(form, name).data or "")
        except ledger.AdjustmentError as exc:
            wrong[name] = say(exc)
    return wrong


def say(exc: ledger.AdjustmentError) -> str:
    return _(exc.msgid, **exc.params) if exc.params else _(exc.msgid)


@bp.post("/accounts/<int:account_id>/money")
def account_money(account_id: int):
    account = get_or_404(Account, account_id)
    form = MoneyForm()
    general: list[str] = []
    if form.validate_on_submit():
        charge_id: int | None = None
        raw = (form.charge.data or "").strip()
        try:
            if wrong := _input_errors(form):  # every bad field at once (issue 16), then the rest
                for name, message in wrong.items():
                    getattr(form, name).errors = [message]
                raise _AlreadyShown
            if raw:
                if not _CHARGE_ID.fullmatch(raw):  # str.isdigit() takes "²", which int() refuses
                    raise ledger.AdjustmentError(
                        "Charge %(charge)s is not a charge of this account.", charge=raw[:20]
                    )
                charge_id = int(raw)
            with writing():
                done = ledger.adjust(
                    db(),
                    g.user,
                    account.id,
                    form.kind.data or "",
                    form.amount.data or "",
                    form.reason.data or "",
                    cdr_charge_id=charge_id,
                    remote_addr=remote(),
                )
        except _AlreadyShown:
            pass
        except ledger.AdjustmentError as exc:
            field = FIELD_OF.get(exc.msgid)
            if field is not None:
                getattr(form, field).errors = [say(exc)]
            else:
                general.append(say(exc))
        else:
            flash(
                _(
                    "%(kind)s of %(amount)s recorded on account %(id)s; the balance is now %(balance)s.",
                    kind=ENTRY_LABELS[done.kind],
                    amount=usd(done.amount),
                    id=account.id,
                    balance=usd(done.balance),
                ),
                "success",
            )
            return redirect(url_for(".account", account_id=account.id) + "#money")
    else:
        general = form_errors(form)
    db().refresh(account)
    return views._account_page(account, {"money": general}, 400, {"money": form})
