"""Operator admin: bulk import of accounts, their numbers and DIDs from CSV (issue 15).

Upload (or paste) → dry run: every row's result and every problem with its line and column,
all in a transaction that is rolled back → Apply: the very content shown (carried in the form
with its SHA-256 sealed by the panel's secret for the operator, bulk.seal; a changed content is
refused), run again from scratch and committed only
when every row is clean. Generated passwords are shown once, on the apply's response."""

from __future__ import annotations

import base64
import binascii

from flask import current_app, g, make_response, render_template, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from db.errors import ServiceError
from webpanel.admin import bulk
from webpanel.admin.blueprint import bp, remote, settings
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l


class BulkUploadForm(FlaskForm):
    file = FileField(_l("CSV file"))
    pasted = TextAreaField(_l("Or paste the CSV here"), [Length(max=bulk.MAX_BYTES)])


class BulkApplyForm(FlaskForm):
    content = HiddenField(validators=[DataRequired()])
    digest = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])


def _page(form: BulkUploadForm | None = None, errors: list[str] | None = None, status: int = 200):
    return render_template(
        "admin/bulk_import.html",
        form=form or BulkUploadForm(formdata=None),
        errors=errors or [],
        outcome=None,
        columns=bulk.COLUMNS,
        max_rows=bulk.MAX_ROWS,
    ), status


def _no_store(body, status: int):
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"  # the file (and passwords) are in the page
    return response


@bp.get("/bulk-import/")
def bulk_import():
    return _page()


@bp.post("/bulk-import/dry-run")
def bulk_dry_run():
    form = BulkUploadForm()
    if not form.validate_on_submit():
        return _page(form, [str(e) for errs in form.errors.values() for e in errs], 400)
    try:
        upload = form.file.data
        if upload and getattr(upload, "filename", ""):
            content = bulk.decode(upload.read(bulk.MAX_BYTES + 1))
        else:
            content = (form.pasted.data or "").replace("\r\n", "\n")
    except ServiceError as exc:
        return _page(form, [str(exc)], 400)
    if not content.strip():
        return _page(form, [_("Choose a CSV file or paste its lines.")], 400)
    with writing() as write:
        outcome = bulk.run(
            db(), g.user, content, realm=settings().sip_realm, apply=False, remote_addr=remote()
        )
        write.discard()  # a dry run: nothing stays, not even an audit entry
    apply_form = BulkApplyForm(
        formdata=None,
        content=base64.b64encode(content.encode("utf-8")).decode("ascii"),
        digest=bulk.seal(current_app.secret_key, g.user.id, outcome.digest),
    )
    body = render_template(
        "admin/bulk_import.html",
        form=BulkUploadForm(formdata=None),
        errors=[],
        outcome=outcome,
        apply_form=apply_form,
        columns=bulk.COLUMNS,
        max_rows=bulk.MAX_ROWS,
        dry_run=True,
    )
    return _no_store(body, 200 if outcome.ok else 400)


@bp.post("/bulk-import/apply")
def bulk_apply():
    form = BulkApplyForm()
    if not form.validate_on_submit():
        return _page(errors=[_("Run the dry run first, then apply its result.")], status=400)
    try:
        content = base64.b64decode(form.content.data or "", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return _page(errors=[_("Run the dry run first, then apply its result.")], status=400)
    if not bulk.sealed(current_app.secret_key, g.user.id, content, form.digest.data or ""):
        return _page(errors=[_("The file changed since its dry run; run the dry run again.")], status=400)
    with writing() as write:
        outcome = bulk.run(
            db(), g.user, content, realm=settings().sip_realm, apply=True, remote_addr=remote()
        )
        if not outcome.ok:
            write.discard()  # all or nothing
    body = render_template(
        "admin/bulk_import.html",
        form=BulkUploadForm(formdata=None),
        errors=[],
        outcome=outcome,
        apply_form=None,
        columns=bulk.COLUMNS,
        max_rows=bulk.MAX_ROWS,
        dry_run=False,
        accounts_url=url_for(".accounts"),
    )
    return _no_store(body, 200 if outcome.ok else 400)
