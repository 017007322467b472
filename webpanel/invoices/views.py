"""Invoices (issue 15): the account's monthly statements, newest first, each as its PDF. The
primary account holder sees them (a secondary user is told so); another account's invoice is a
404. Invoices are issued by the controller at the start of a month, or by the operator."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, render_template

from db import invoices
from db.models import Invoice
from webpanel import access
from webpanel.database import db

bp = Blueprint("invoices", __name__, url_prefix="/invoices", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    may_see = g.user.role == access.PRIMARY
    rows = invoices.list_invoices(db(), g.user.account_id) if may_see else []
    return render_template("invoices/index.html", invoices=rows, may_see=may_see)


@bp.get("/<int:invoice_id>/pdf")
@access.roles_required(access.PRIMARY)
def pdf(invoice_id: int):
    invoice = access.owned_or_404(Invoice, invoice_id)
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
