"""Webhooks (issue 15), the primary account holder's: URLs that get the account's events (call
ended with its charge, new voicemail, new fax, low balance, fraud rule tripped), each signed
with the webhook's secret (shown once, when it is added); disable, delete, a test event, and the
deliveries' log (newest first, paged). The low-balance threshold is set here too.

How deliveries are made, signed and retried: controller/services/webhooks.py; how a receiver
verifies one: controller/rules/webhooks.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from db import webhooks
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, Webhook
from webpanel import access
from webpanel.admin.forms import ActionForm
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.webhooks import common

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks", template_folder="templates")
access.restrict(bp, *access.MEMBERS)
# the primary account holder's: a secondary user gets a page saying so, and 403 on every change
PRIMARY_ONLY = access.roles_required(access.PRIMARY)


def _own(hook_id: int) -> Webhook:
    hook = db().scalar(select(Webhook).where(Webhook.id == hook_id, Webhook.account_id == g.user.account_id))
    if hook is None:
        abort(404)
    return hook


def _render(
    form: common.WebhookForm | None = None,
    threshold_form: common.ThresholdForm | None = None,
    new_hook: Webhook | None = None,
    status: int = 200,
) -> Any:
    account = db().get(Account, g.user.account_id)
    assert account is not None
    before = common.before_arg()
    hooks = webhooks.webhooks_of(db(), account.id)
    # the log lists the deliveries of the account's webhooks: none without one (a query fewer)
    log = webhooks.deliveries(db(), account_id=account.id, before=before) if hooks else []
    if threshold_form is None:
        threshold_form = common.ThresholdForm(formdata=None, threshold=account.low_balance_threshold)
    return render_template(
        "webhooks/index.html",
        hooks=hooks,
        form=form or common.WebhookForm(formdata=None),
        threshold_form=threshold_form,
        new_hook=new_hook,
        log=log,
        before=before,
        older=log[-1].id if len(log) == webhooks.PAGE else None,
        labels=common.EVENT_LABELS,
    ), status


@bp.get("/")
def index() -> Any:
    if g.user.role != access.PRIMARY:
        return render_template("webhooks/secondary.html")
    return _render()


@bp.post("/")
@PRIMARY_ONLY
def add() -> Any:
    form = common.WebhookForm()
    if form.validate_on_submit():
        try:
            with writing():
                hook = common.create(
                    form,
                    g.user.account_id,
                    allow_private=current_app.extensions["voip_settings"].webhook_allow_private,
                    session=db(),
                )
        except ServiceError as exc:
            form.url.errors = [service_message(exc)]
        else:
            # rendered, not redirected: the secret is on this page only, never stored in the session
            return _render(new_hook=hook)
    return _render(form=form, status=400)


@bp.post("/<int:hook_id>/active")
@PRIMARY_ONLY
def active(hook_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    hook = _own(hook_id)
    with writing():
        common.set_active(db(), hook, request.form.get("active") == "1")
    flash(_("The webhook was enabled.") if hook.active else _("The webhook was disabled."), "success")
    return redirect(url_for(".index"))


@bp.post("/<int:hook_id>/delete")
@PRIMARY_ONLY
def delete(hook_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    hook = _own(hook_id)
    with writing():
        common.remove(db(), hook)
    flash(_("The webhook was deleted."), "success")
    return redirect(url_for(".index"))


@bp.post("/<int:hook_id>/test")
@PRIMARY_ONLY
def test(hook_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    hook = _own(hook_id)
    if not hook.active:
        flash(_("Enable the webhook first."), "error")
        return redirect(url_for(".index"))
    with writing():
        common.send_test(db(), hook)
    flash(_("A test event is on its way: see the deliveries below."), "success")
    return redirect(url_for(".index"))


@bp.post("/threshold")
@PRIMARY_ONLY
def threshold() -> Any:
    form = common.ThresholdForm()
    if not form.validate_on_submit():
        return _render(threshold_form=form, status=400)
    account = db().get(Account, g.user.account_id)
    assert account is not None
    with writing():
        before = account.low_balance_threshold
        account.low_balance_threshold = form.threshold.data
        audit(
            db(),
            "account.low_balance_threshold",
            actor=g.user,
            account_id=account.id,
            obj=account,
            details={
                "from": None if before is None else str(before),
                "to": None if form.threshold.data is None else str(form.threshold.data),
            },
            remote_addr=request.remote_addr or "",
        )
    flash(_("The low balance threshold was saved."), "success")
    return redirect(url_for(".index"))
