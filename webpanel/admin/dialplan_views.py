"""Operator admin: the generated dialplan and the admin's overrides (webpanel.admin.dialplan)."""

from __future__ import annotations

import logging

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from asterisk_conf import overrides
from db.audit import audit
from db.errors import ServiceError
from db.models import DialplanVersion
from webpanel.admin import dialplan
from webpanel.admin.blueprint import bp, form_errors, get_or_404, remote, settings
from webpanel.admin.forms import ActionForm, DialplanForm
from webpanel.database import db, writing
from webpanel.i18n import _

log = logging.getLogger(__name__)


def _page(
    form: DialplanForm | None = None,
    *,
    problems=(),
    errors=(),
    checked: bool = False,
    proposed_diff: str = "",
    status: int = 200,
):
    latest = dialplan.current(db())
    if form is None:
        form = DialplanForm(formdata=None, body=latest.body if latest else "")
    return render_template(
        "admin/dialplan.html",
        form=form,
        latest=latest,
        history=dialplan.history(db()),
        generated=dialplan.generated(settings()),
        problems=list(problems),
        errors=list(errors),
        checked=checked,
        proposed_diff=proposed_diff,
        action_form=ActionForm(),
        admin_file=overrides.ADMIN_FILE,
        config_path=str(dialplan.config_path(settings())),
        feature_context=overrides.FEATURE_CONTEXT,
        sim_pstn=overrides.SIM_PSTN,
        allowed_apps=overrides._ALLOWED_DISPLAY,
    ), status


@bp.get("/dialplan/")
def dialplan_index():
    return _page()


@bp.post("/dialplan/")
def dialplan_submit():
    """`action=validate` only checks and shows the diff; `action=apply` validates, then applies."""
    form = DialplanForm()
    if not form.validate_on_submit():
        return _page(form, errors=form_errors(form), status=400)
    body = dialplan.normalize(form.body.data or "")
    latest = dialplan.current(db())
    before = latest.body if latest else ""
    problems = dialplan.validate(settings(), body)
    proposed = dialplan.diff(before, body, _("applied"), _("proposed"))
    if problems:
        return _page(form, problems=problems, proposed_diff=proposed, status=400)
    if request.form.get("action") != "apply":
        return _page(form, checked=True, proposed_diff=proposed)
    if body == before and latest is not None:
        return _page(form, errors=[_("That is the version applied now: nothing to apply.")], status=400)
    try:
        # the version and its audit row are committed first; only then does Asterisk get it
        with writing():
            version = dialplan.apply(
                db(), settings(), g.user, body, form.comment.data or "", remote_addr=remote()
            )
    except dialplan.DialplanRejected as exc:
        return _page(form, problems=exc.problems, proposed_diff=proposed, status=400)
    except dialplan.ApplyFailed as exc:
        _audit_failure("admin.dialplan_apply_failed", str(exc))
        return _page(form, errors=[str(exc)], proposed_diff=proposed, status=502)
    except SQLAlchemyError as exc:
        return _not_saved(exc, form, proposed)
    version_id = version.id
    try:
        dialplan.publish(db(), settings())
    except dialplan.ApplyFailed as exc:
        _audit_failure("admin.dialplan_apply_failed", str(exc), version_id)
        return _page(errors=[str(exc)], status=502)
    flash(_("Dialplan version %(id)s was applied and Asterisk reloaded it.", id=version_id), "success")
    return redirect(url_for(".dialplan_index"))


def _not_saved(exc: SQLAlchemyError, form: DialplanForm | None = None, proposed: str = ""):
    """The commit failed: nothing was recorded, and nothing was written to Asterisk."""
    log.error("dialplan version not saved: %s", exc.__class__.__name__)
    return _page(
        form,
        errors=[_("The database did not save the version, so nothing was written to Asterisk. Try again.")],
        proposed_diff=proposed,
        status=503,
    )


@bp.get("/dialplan/versions/<int:version_id>")
def dialplan_version(version_id: int):
    version = get_or_404(DialplanVersion, version_id)
    previous = (
        db()
        .query(DialplanVersion)
        .filter(DialplanVersion.id < version.id)
        .order_by(DialplanVersion.id.desc())
        .first()
    )
    latest = dialplan.current(db())
    changes = dialplan.diff(
        previous.body if previous else "",
        version.body,
        _("version %(id)s", id=previous.id) if previous else _("nothing"),
        _("version %(id)s", id=version.id),
    )
    return render_template(
        "admin/dialplan_version.html",
        version=version,
        previous=previous,
        changes=changes,
        is_latest=latest is not None and latest.id == version.id,
        action_form=ActionForm(),
    )


@bp.post("/dialplan/versions/<int:version_id>/rollback")
def dialplan_rollback(version_id: int):
    version = get_or_404(DialplanVersion, version_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with writing():
            new = dialplan.rollback(db(), settings(), g.user, version, remote_addr=remote())
    except dialplan.DialplanRejected as exc:
        return _page(problems=exc.problems, status=400)
    except dialplan.ApplyFailed as exc:
        _audit_failure("admin.dialplan_rollback_failed", str(exc), version_id)
        return _page(errors=[str(exc)], status=502)
    except ServiceError as exc:
        return _page(errors=[str(exc)], status=400)
    except SQLAlchemyError as exc:
        return _not_saved(exc)
    new_id = new.id
    try:
        dialplan.publish(db(), settings())  # after the commit (issue 13 item 9)
    except dialplan.ApplyFailed as exc:
        _audit_failure("admin.dialplan_rollback_failed", str(exc), version_id)
        return _page(errors=[str(exc)], status=502)
    flash(
        _("Rolled back to version %(old)s: applied as version %(id)s.", old=version_id, id=new_id), "success"
    )
    return redirect(url_for(".dialplan_index"))


def _audit_failure(action: str, reason: str, version_id: int | None = None) -> None:
    with writing():
        audit(
            db(),
            action,
            actor=g.user,
            details={"reason": reason[:500], "version": version_id},
            remote_addr=remote(),
        )
