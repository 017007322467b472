"""Operator admin: any account's virtual-number options (issue 15).

The operator gets the member's own Options form (webpanel.virtual_number.forms.OptionsForm, the
same labels and help) and the same rule (db.accounts.update_options, which the member's
Virtual Number page calls too), with the powers of the primary account holder. One audit entry
names the operator as actor, with the account id and what changed."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import accounts as db_accounts
from db.accounts import PRIMARY_ONLY_OPTIONS, VN_OPTIONS
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, User, VirtualNumber
from webpanel.admin.blueprint import bp, get_or_404, remote
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.virtual_number.forms import OPTION_HELP, OptionsForm


def update_number_options(
    session: Session, admin: User, vn: VirtualNumber, submitted: dict[str, Any], *, remote_addr: str = ""
) -> list[str]:
    """Every option set as submitted (a box not sent is unchecked, as on the member's page for the
    primary holder); returns the names that changed. Audited with the operator as actor."""
    before = {name: bool(getattr(vn, name)) for name in VN_OPTIONS}
    after = {name: bool(submitted.get(name)) for name in VN_OPTIONS}
    db_accounts.update_options(session, vn, as_primary=True, actor=admin, remote_addr=remote_addr, **after)
    changed = [name for name in VN_OPTIONS if before[name] != after[name]]
    audit(
        session,
        "admin.number_options",
        actor=admin,
        account_id=vn.account_id,
        obj=vn,
        details={"number": vn.number, "changed": changed, "options": after},
        remote_addr=remote_addr,
    )
    return changed


def _number_or_404(account_id: int, number: str) -> tuple[Account, VirtualNumber]:
    account = get_or_404(Account, account_id)
    vn = db().scalar(
        select(VirtualNumber).where(VirtualNumber.account_id == account.id, VirtualNumber.number == number)
    )
    if vn is None:
        abort(404)
    return account, vn


@bp.route("/accounts/<int:account_id>/numbers/<number>/options", methods=["GET", "POST"])
def number_options(account_id: int, number: str):
    account, vn = _number_or_404(account_id, number)
    form = OptionsForm(formdata=None, obj=vn) if request.method == "GET" else OptionsForm()
    if request.method == "POST":
        if form.validate_on_submit():
            submitted = {name: form[name].data for name in VN_OPTIONS}
            try:
                with writing():
                    changed = update_number_options(db(), g.user, vn, submitted, remote_addr=remote())
            except ServiceError as exc:
                form.form_errors.append(service_message(exc))
            else:
                if changed:
                    flash(_("The options of %(number)s were saved.", number=vn.number), "success")
                else:
                    flash(_("The options of %(number)s are unchanged.", number=vn.number), "success")
                return redirect(url_for(".number_options", account_id=account.id, number=vn.number))
        db().refresh(vn)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "admin/number_options.html",
        account=account,
        vn=vn,
        form=form,
        option_help=OPTION_HELP,
        primary_only=PRIMARY_ONLY_OPTIONS,
        options_order=VN_OPTIONS,
    ), status
