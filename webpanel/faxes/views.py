"""The help page's "Faxes": the list, the PDF of each fax, delete."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from controller.rules.clock import file_stamp
from db.errors import ServiceError
from db.models import Fax
from webpanel import access, filters
from webpanel.database import db, writing
from webpanel.faxes import services
from webpanel.filters import localtime
from webpanel.i18n import _, service_message

bp = Blueprint("faxes", __name__, url_prefix="/faxes", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    raw = request.args.get("page", "")
    if raw and raw != "last" and not (raw.isdigit() and 0 < int(raw) <= 1_000_000):
        abort(400)
    page = None if raw == "last" else int(raw or 1)
    result = services.faxes(db(), g.user, page)
    return render_template(
        "faxes/index.html", result=result, links=_links(result), may_see=services.may_see_faxes(g.user)
    )


@bp.get("/<int:fax_id>/pdf")
@access.roles_required(access.PRIMARY)
def pdf(fax_id: int):
    fax = access.owned_or_404(Fax, fax_id)
    if not fax.pdf:
        abort(404)
    stamp = file_stamp(fax.received_at, filters.zone(filters.account_zone()))  # 20260115-233000-PST
    return Response(
        fax.pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="fax-{stamp}-{fax.id}.pdf"'},
    )


@bp.post("/<int:fax_id>/delete")
@access.roles_required(access.PRIMARY)
def delete(fax_id: int):
    fax = access.owned_or_404(Fax, fax_id)  # CSRFProtect has checked the token
    received = localtime(fax.received_at)
    try:
        with writing():
            services.delete_fax(db(), g.user, fax, remote_addr=request.remote_addr or "")
    except ServiceError as exc:
        flash(service_message(exc), "error")
        return redirect(url_for(".index"))
    flash(_("The fax received %(when)s was deleted.", when=received), "success")
    return redirect(url_for(".index"))


def _links(result: services.Page) -> dict[str, str]:
    links = {}
    if result.page > 1:
        links["first"], links["previous"] = url_for(".index"), url_for(".index", page=result.page - 1)
    if result.page < result.pages:
        links["next"], links["last"] = url_for(".index", page=result.page + 1), url_for(".index", page="last")
    return links
