"""The help page's "DID Numbers" and "911 Information".

The primary account holder sees every DID of the account and chooses where each rings; a
secondary user sees the DIDs that ring their own number and keeps their 911 address current
(they know where their phone is).
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from db.errors import ServiceError
from db.models import Did
from webpanel import access
from webpanel.database import db, writing
from webpanel.dids import services
from webpanel.dids.forms import ConnectForm, E911Form
from webpanel.i18n import _, service_message
from webpanel.validation import FieldErrors, attach_errors

bp = Blueprint("dids", __name__, url_prefix="/dids", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    return _render_list()


@bp.post("/<int:did_id>")
@access.roles_required(access.PRIMARY)
def connect(did_id: int):
    did = access.owned_or_404(Did, did_id)
    form = ConnectForm()
    if form.validate_on_submit():
        try:
            with writing():
                services.connect(
                    db(),
                    did,
                    g.user,
                    form.connected_to.data,
                    form.fax_email.data or "",
                    remote_addr=request.remote_addr or "",
                )
        except ServiceError as exc:
            form.connected_to.errors = [service_message(exc)]
        else:
            flash(_("DID %(number)s was updated.", number=did.number), "success")
            return redirect(url_for(".index"))
    return _render_list(failed=(did.id, form), status=400)


@bp.get("/911")
def e911_index():
    dids = db().scalars(services.visible_dids(g.user)).all()
    return render_template("dids/e911_index.html", dids=dids)


@bp.route("/<int:did_id>/911", methods=["GET", "POST"])
def e911(did_id: int):
    did = access.owned_or_404(Did, did_id)
    if request.method == "GET":
        form = E911Form(obj=did.e911) if did.e911 else E911Form(formdata=None, in_us_ca="yes", country="US")
        if did.e911:
            form.in_us_ca.data = "yes" if did.e911.in_us_ca else "no"
        return render_template("dids/e911.html", did=did, form=form)
    form = E911Form()
    form.validate_on_submit()
    if not form.csrf_token.errors:
        values = {name: form[name].data for name in services.E911_FIELDS}
        try:
            with writing() as write:
                services.save_e911(db(), did, g.user, values, remote_addr=request.remote_addr or "")
                if form.errors:
                    write.discard()
        except FieldErrors as exc:
            attach_errors(form, exc.errors)
        except ServiceError as exc:
            form.form_errors.append(service_message(exc))
        else:
            if not write.discarded:
                flash(_("The 911 information of %(number)s was saved.", number=did.number), "success")
                return redirect(url_for(".e911_index"))
    return render_template("dids/e911.html", did=did, form=form), 400


def _render_list(failed: tuple[int, ConnectForm] | None = None, status: int = 200):
    dids = db().scalars(services.visible_dids(g.user)).all()
    numbers = db().scalars(access.visible_numbers(g.user)).all()
    by_id: dict[int | None, str] = {vn.id: vn.number for vn in numbers}
    rows = []
    for did in dids:
        row = {
            "did": did,
            "target": by_id.get(did.virtual_number_id, "")
            if did.connection == "virtual_number"
            else (services.FAX_TO_EMAIL if did.connection == services.FAX_TO_EMAIL else ""),
            "fax_email": did.fax_email or "",
            "errors": [],
        }
        if failed and failed[0] == did.id:
            form = failed[1]
            row.update(
                target=form.connected_to.data or "",
                fax_email=form.fax_email.data or "",
                errors=[*form.connected_to.errors, *form.fax_email.errors, *form.csrf_token.errors],
            )
        rows.append(row)
    return render_template(
        "dids/index.html",
        rows=rows,
        numbers=numbers,
        may_connect=g.user.role == access.PRIMARY,
        fax_to_email=services.FAX_TO_EMAIL,
    ), status
