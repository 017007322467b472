"""Operator admin: Invoices (issue 15). Every account's monthly invoices (filtered by account),
each invoice's PDF, "issue" for a month (every due account, or one), and "email again" for an
invoice whose email failed. Issuing is idempotent: a month issued already gives back the same
invoices, unchanged (db/invoices.py); issuing and emailing are audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from controller.services import invoicing
from db import invoices
from db.errors import ServiceError
from db.models import Account, Invoice
from webpanel.admin.blueprint import bp, form_errors, get_or_404, page_number, paged, remote, settings
from webpanel.admin.forms import ActionForm
from webpanel.converters import INT4_MAX
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip


class IssueForm(FlaskForm):
    month = StringField(
        _l("Month (YYYY-MM)"), [DataRequired(_l("Enter the month.")), Length(max=7)], filters=[strip]
    )
    account_id = IntegerField(
        _l("Account ID (empty: every account)"), [Optional(), NumberRange(min=1, max=INT4_MAX)]
    )
    email = BooleanField(_l("Email the invoices now"))


def _account_filter() -> int | None:
    raw = request.args.get("account_id", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) <= INT4_MAX:
        abort(400)
    return int(raw)


def _page(form: IssueForm | None = None, errors: list[str] | None = None, status: int = 200) -> Any:
    account_id = _account_filter()
    if form is None:
        year, month = invoices.previous_month(dt.datetime.now(dt.UTC).date())
        form = IssueForm(formdata=None, month=f"{year:04d}-{month:02d}", account_id=account_id)
    query = (
        select(
            Invoice.id,
            Invoice.number,
            Invoice.account_id,
            Invoice.period_start,
            Invoice.issued_at,
            Invoice.opening_balance,
            Invoice.charges,
            Invoice.plan_fees,
            Invoice.credit_bought,
            Invoice.adjustments,
            Invoice.closing_balance,
            Invoice.emailed_at,
            Invoice.email_error,
            Account.first_name,
            Account.last_name,
            Account.company,
        )
        .join(Account, Account.id == Invoice.account_id)
        .order_by(Invoice.period_start.desc(), Invoice.id.desc())
    )
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    page = page_number()
    rows, pages = paged(query, page)
    return render_template(
        "admin/invoices.html",
        form=form,
        errors=errors or [],
        rows=rows,
        page=min(page, pages),
        pages=pages,
        account_id=account_id,
    ), status


@bp.get("/invoices/")
def invoices_index():
    return _page()


@bp.post("/invoices/issue")
def invoices_issue():
    form = IssueForm()
    if not form.validate_on_submit():
        return _page(form, form_errors(form), 400)
    try:
        year, month = invoices.parse_month(form.month.data or "")
        account_id = form.account_id.data
        if account_id is not None and db().get(Account, account_id) is None:
            raise ServiceError(_("There is no account %(id)s.", id=account_id))
        # each account's invoice committed on its own (invoicing.issue_month): a request cut off
        # half way through thousands keeps what it issued, and issuing again carries on
        result = invoicing.issue_month(
            current_app.extensions["voip_db"].factory,
            settings(),
            year,
            month,
            account_ids=[account_id] if account_id is not None else None,
            actor_id=g.user.id,
            remote_addr=remote(),
        )
        numbers, failed = result.issued, result.failed
    except ServiceError as exc:
        return _page(form, [service_message(exc)], 400)
    if account_id is not None and failed:
        return _page(form, [service_message(failed[account_id])], 400)
    label = dt.date(year, month, 1).strftime("%Y-%m")
    flash(
        _(
            "%(count)s invoice(s) for %(month)s: %(numbers)s",
            count=len(numbers),
            month=label,
            numbers=", ".join(numbers[:20]) or "—",
        ),
        "success",
    )
    if failed:
        flash(_("%(count)s account(s) were not invoiced; see the log.", count=len(failed)), "error")
    if form.email.data and numbers:
        factory = current_app.extensions["voip_db"].factory
        sent = invoicing.send_pending(factory, settings(), limit=100_000, account_id=account_id)
        flash(_("%(sent)s emailed, %(failed)s not.", sent=len(sent.sent), failed=len(sent.failed)), "success")
    return redirect(
        url_for(".invoices_index", account_id=account_id) if account_id else url_for(".invoices_index")
    )


@bp.get("/invoices/<int:invoice_id>/pdf")
def invoice_pdf(invoice_id: int):
    invoice = get_or_404(Invoice, invoice_id)
    if not invoice.pdf:
        abort(404)
    return Response(
        invoice.pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{invoice.number}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.post("/invoices/<int:invoice_id>/email")
def invoice_email(invoice_id: int):
    invoice = get_or_404(Invoice, invoice_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    with writing():
        invoices.reset_email(db(), invoice, actor=g.user, remote_addr=remote())
    result = invoicing.EmailResult()
    invoicing.send_one(current_app.extensions["voip_db"].factory, settings(), invoice_id, result)
    if result.sent:
        flash(_("Invoice %(number)s was emailed.", number=invoice.number), "success")
    else:
        flash(
            _(
                "Invoice %(number)s was not emailed: %(error)s",
                number=invoice.number,
                error=result.failed.get(invoice.number, ""),
            ),
            "error",
        )
    return redirect(url_for(".invoices_index", account_id=invoice.account_id))
