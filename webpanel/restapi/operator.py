"""The operator's endpoints: accounts, numbers, DIDs, credit, call records, invoices.

An operator's token (scope operator: read and write; scope read: GET only). A member's token
gets 403 on every one of them (auth.authenticate, before any input is read). Writes go through
the very service functions the admin pages use (webpanel.admin.services, db.ledger), which
check their input again and audit the change with the operator as actor; the API adds its own
audit entry (api.<action>) naming the token and the remote address.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from sqlalchemy import select

from db import invoices as db_invoices
from db import ledger
from db.models import Account, Did, VirtualNumber
from webpanel.admin import services
from webpanel.database import db, writing
from webpanel.restapi import auth, records
from webpanel.restapi import schemas as s
from webpanel.restapi.audit import api_audit
from webpanel.restapi.auth import ApiBlueprint as Blueprint

accounts_bp = Blueprint("Accounts", __name__, url_prefix="/api/v1/accounts", description="Operator: accounts")
numbers_bp = Blueprint(
    "Numbers", __name__, url_prefix="/api/v1/numbers", description="Operator: virtual numbers"
)
dids_bp = Blueprint("DIDs", __name__, url_prefix="/api/v1/dids", description="Operator: DIDs")
records_bp = Blueprint(
    "CallRecords", __name__, url_prefix="/api/v1/call-records", description="Operator: call records (CDRs)"
)
invoices_bp = Blueprint("Invoices", __name__, url_prefix="/api/v1/invoices", description="Operator: invoices")
BLUEPRINTS = (accounts_bp, numbers_bp, dids_bp, records_bp, invoices_bp)
for _bp in BLUEPRINTS:
    auth.protect(_bp, "operator")

ERRORS = (400, 401, 403, 404, 429)


def _doc_errors(blp: Blueprint, *codes: int):
    def decorator(view):
        for code in codes:
            view = blp.alt_response(
                code, schema=s.ErrorSchema, description=auth.ERROR_CODES.get(code, "error")
            )(view)
        return view

    return decorator


def _int_cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not (after.isascii() and after.isdigit()) or len(after) > 10:  # "²".isdigit(), int("²") fails
        raise auth.ApiError(400, "invalid", "That `after` cursor is not valid.", field="after")
    return int(after)


def _page(items: list[Any], limit: int, key) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next": key(items[-1]) if more and items else None}


def _settings():
    return current_app.extensions["voip_settings"]


# --- accounts ------------------------------------------------------------------------------------


def account_dict(account: Account, numbers: list[str] | None = None) -> dict[str, Any]:
    if numbers is None:
        numbers = list(
            db().scalars(
                select(VirtualNumber.number)
                .where(VirtualNumber.account_id == account.id)
                .order_by(VirtualNumber.number)
            )
        )
    return {
        "id": account.id,
        "status": account.status,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "company": account.company,
        "email": account.email,
        "country": account.country,
        "time_zone": account.time_zone,
        "language": account.language,
        "created_at": account.created_at,
        "numbers": numbers,
    }


def _account(account_id: int) -> Account:
    account = db().get(Account, account_id)
    if account is None:
        raise auth.not_found("account")
    return account


@accounts_bp.get("")
@accounts_bp.arguments(s.AccountListArgs, location="query")
@accounts_bp.response(200, s.AccountPageSchema)
@_doc_errors(accounts_bp, *ERRORS)
def list_accounts(args):
    """List accounts, newest first (keyset: `after` = the previous page's `next`)."""
    query = services.search_accounts(args["q"], args["status"] or "")
    after = _int_cursor(args["after"])
    if after is not None:
        query = query.where(Account.id < after)
    rows = list(db().scalars(query.limit(args["limit"] + 1)))
    ids = [a.id for a in rows]
    numbers: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for account_id, number in db().execute(
            select(VirtualNumber.account_id, VirtualNumber.number)
            .where(VirtualNumber.account_id.in_(ids))
            .order_by(VirtualNumber.number)
        ):
            numbers[account_id].append(number)
    items = [account_dict(a, numbers[a.id]) for a in rows]
    return _page(items, args["limit"], lambda last: str(last["id"]))


@accounts_bp.post("")
@accounts_bp.arguments(s.AccountCreateSchema)
@accounts_bp.response(201, s.AccountSchema)
@_doc_errors(accounts_bp, *ERRORS)
def create_account(data):
    """Create an account with its first virtual number and primary user (who logs in with it)."""
    with writing():
        account = services.create_account(
            db(),
            auth.actor(),
            number=data["number"],
            password=data["password"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data["email"],
            realm=_settings().sip_realm,
            remote_addr=auth.remote(),
        )
        api_audit("account_create", account_id=account.id, obj=account, details={"number": data["number"]})
    return account_dict(account)


@accounts_bp.get("/<int:account_id>")
@accounts_bp.response(200, s.AccountSchema)
@_doc_errors(accounts_bp, *ERRORS)
def get_account(account_id: int):
    """One account."""
    return account_dict(_account(account_id))


def _set_status(account_id: int, status: str):
    account = _account(account_id)
    with writing():
        services.set_account_status(db(), auth.actor(), account, status, remote_addr=auth.remote())
        api_audit(
            f"account_{'suspend' if status == 'suspended' else 'resume'}", account_id=account.id, obj=account
        )
    return account_dict(account)


@accounts_bp.post("/<int:account_id>/suspend")
@accounts_bp.response(200, s.AccountSchema)
@_doc_errors(accounts_bp, *ERRORS)
def suspend_account(account_id: int):
    """Suspend the account: its users cannot log in, its numbers cannot call (911 still can)."""
    return _set_status(account_id, "suspended")


@accounts_bp.post("/<int:account_id>/resume")
@accounts_bp.response(200, s.AccountSchema)
@_doc_errors(accounts_bp, *ERRORS)
def resume_account(account_id: int):
    """Make a suspended (or closed) account active again."""
    return _set_status(account_id, "active")


@accounts_bp.post("/<int:account_id>/credit")
@accounts_bp.arguments(s.CreditSchema)
@accounts_bp.response(201, s.AdjustedSchema)
@_doc_errors(accounts_bp, *ERRORS)
def adjust_credit(data, account_id: int):
    """Move money by hand: a credit, a debit (never past the available balance) or a refund
    (of one of the account's charges, `cdr_charge_id`), with a required reason."""
    _account(account_id)
    with writing():
        done = ledger.adjust(
            db(),
            auth.actor(),
            account_id,
            data["kind"],
            data["amount"],
            data["reason"],
            cdr_charge_id=data["cdr_charge_id"],
            remote_addr=auth.remote(),
        )
        api_audit(
            "credit_adjust",
            account_id=account_id,
            object_type="account_adjustments",
            object_id=done.adjustment_id,
            details={"kind": done.kind, "amount": str(done.amount)},
        )
    return {
        "adjustment_id": done.adjustment_id,
        "account_id": account_id,
        "kind": done.kind,
        "amount": done.amount,
        "credit_lot_id": done.credit_lot_id,
        "balance": done.balance,
    }


@accounts_bp.get("/<int:account_id>/balance")
@accounts_bp.response(200, s.BalanceSchema)
@_doc_errors(accounts_bp, *ERRORS)
def account_balance(account_id: int):
    """The account's balance: what its calls can use now, and its unspent credit."""
    _account(account_id)
    return records.balance(account_id)


# --- numbers -------------------------------------------------------------------------------------


def number_dict(vn: VirtualNumber) -> dict[str, Any]:
    return {
        "id": vn.id,
        "account_id": vn.account_id,
        "number": vn.number,
        "display_name": vn.display_name,
        "voicemail_enabled": vn.voicemail_enabled,
        "allow_us_canada_ld": vn.allow_us_canada_ld,
        "allow_international_ld": vn.allow_international_ld,
        "created_at": vn.created_at,
    }


@numbers_bp.get("")
@numbers_bp.arguments(s.NumberListArgs, location="query")
@numbers_bp.response(200, s.NumberPageSchema)
@_doc_errors(numbers_bp, *ERRORS)
def list_numbers(args):
    """Virtual numbers by id (of one account with `account_id`)."""
    query = select(VirtualNumber).order_by(VirtualNumber.id)
    if args["account_id"] is not None:
        query = query.where(VirtualNumber.account_id == args["account_id"])
    after = _int_cursor(args["after"])
    if after is not None:
        query = query.where(VirtualNumber.id > after)
    items = [number_dict(vn) for vn in db().scalars(query.limit(args["limit"] + 1))]
    return _page(items, args["limit"], lambda last: str(last["id"]))


@numbers_bp.get("/<int:number_id>")
@numbers_bp.response(200, s.NumberSchema)
@_doc_errors(numbers_bp, *ERRORS)
def get_number(number_id: int):
    """One virtual number."""
    vn = db().get(VirtualNumber, number_id)
    if vn is None:
        raise auth.not_found("number")
    return number_dict(vn)


@numbers_bp.post("")
@numbers_bp.arguments(s.NumberCreateSchema)
@numbers_bp.response(201, s.NumberSchema)
@_doc_errors(numbers_bp, *ERRORS)
def add_number(data):
    """Add a virtual number to an account."""
    account = _account(data["account_id"])
    with writing():
        vn = services.add_number(
            db(),
            auth.actor(),
            account,
            data["number"],
            realm=_settings().sip_realm,
            remote_addr=auth.remote(),
        )
        api_audit("number_add", account_id=account.id, obj=vn, details={"number": vn.number})
    return number_dict(vn)


# --- DIDs ----------------------------------------------------------------------------------------


def did_dict(did: Did) -> dict[str, Any]:
    vn = db().get(VirtualNumber, did.virtual_number_id) if did.virtual_number_id else None
    return {
        "id": did.id,
        "number": did.number,
        "account_id": did.account_id,
        "connection": did.connection,
        "virtual_number": vn.number if vn else None,
        "fax_email": did.fax_email,
        "created_at": did.created_at,
    }


@dids_bp.get("")
@dids_bp.arguments(s.DidListArgs, location="query")
@dids_bp.response(200, s.DidPageSchema)
@_doc_errors(dids_bp, *ERRORS)
def list_dids(args):
    """DIDs by id (of one account with `account_id`)."""
    query = select(Did).order_by(Did.id)
    if args["account_id"] is not None:
        query = query.where(Did.account_id == args["account_id"])
    after = _int_cursor(args["after"])
    if after is not None:
        query = query.where(Did.id > after)
    items = [did_dict(d) for d in db().scalars(query.limit(args["limit"] + 1))]
    return _page(items, args["limit"], lambda last: str(last["id"]))


def _did(did_id: int) -> Did:
    did = db().get(Did, did_id)
    if did is None:
        raise auth.not_found("DID")
    return did


@dids_bp.get("/<int:did_id>")
@dids_bp.response(200, s.DidSchema)
@_doc_errors(dids_bp, *ERRORS)
def get_did(did_id: int):
    """One DID."""
    return did_dict(_did(did_id))


@dids_bp.post("/<int:did_id>/connect")
@dids_bp.arguments(s.DidConnectSchema)
@dids_bp.response(200, s.DidSchema)
@_doc_errors(dids_bp, *ERRORS)
def connect_did(data, did_id: int):
    """Assign the DID to an account (or none) and connect it to one of that account's virtual
    numbers, to fax-to-email (with `fax_email`), or to none."""
    did = _did(did_id)
    with writing():
        services.connect_did(
            db(),
            auth.actor(),
            did,
            account_id=data["account_id"],
            target=data["target"],
            fax_email=data["fax_email"],
            remote_addr=auth.remote(),
        )
        api_audit("did_connect", account_id=did.account_id, obj=did, details={"target": data["target"]})
    return did_dict(did)


# --- call records --------------------------------------------------------------------------------


@records_bp.get("")
@records_bp.arguments(s.OperatorRecordArgs, location="query")
@records_bp.response(200, s.CdrPageSchema)
@_doc_errors(records_bp, *ERRORS)
def list_records(args):
    """CDRs newest first with their rating, filtered like the admin's Call Records (account,
    number, DID, destination prefix, carrier, outcome, since/until in UTC), keyset-paged."""
    if args["account_id"] is not None:
        _account(args["account_id"])
    page = records.operator_page(args["account_id"], args, after=args["after"], limit=args["limit"])
    return records.page_response(page)


# --- invoices ------------------------------------------------------------------------------------


def invoice_dict(inv) -> dict[str, Any]:
    return {k: getattr(inv, k) for k in s.InvoiceSchema._declared_fields}


@invoices_bp.get("")
@invoices_bp.arguments(s.InvoiceListArgs, location="query")
@invoices_bp.response(200, s.InvoiceListSchema)
@_doc_errors(invoices_bp, *ERRORS)
def list_invoices(args):
    """An account's invoices, newest month first."""
    _account(args["account_id"])
    return {
        "items": [
            invoice_dict(i) for i in db_invoices.list_invoices(db(), args["account_id"], limit=args["limit"])
        ]
    }


def _invoice(invoice_id: int):
    inv = db_invoices.get_invoice(db(), invoice_id)
    if inv is None:
        raise auth.not_found("invoice")
    return inv


@invoices_bp.get("/<int:invoice_id>")
@invoices_bp.response(200, s.InvoiceSchema)
@_doc_errors(invoices_bp, *ERRORS)
def get_invoice(invoice_id: int):
    """One invoice's figures."""
    return invoice_dict(_invoice(invoice_id))


@invoices_bp.get("/<int:invoice_id>/pdf")
@invoices_bp.response(200, description="The invoice as PDF", content_type="application/pdf")
@_doc_errors(invoices_bp, *ERRORS)
def invoice_pdf(invoice_id: int):
    """The invoice as PDF."""
    inv = _invoice(invoice_id)
    if not inv.pdf:
        raise auth.not_found("invoice PDF")
    return Response(
        bytes(inv.pdf),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{inv.number}.pdf"'},
    )
