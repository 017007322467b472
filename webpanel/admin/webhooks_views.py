"""Operator admin: Webhooks (issue 15). The operator's own webhooks (account_id NULL: they get
every account's events, and may target private addresses, e.g. an internal billing system) and
the deliveries' log of every webhook, members' included (newest first, keyset paged), filtered
to the operator's own with ?mine=1. Members manage theirs in their panel (webpanel/webhooks)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from db import webhooks
from db.errors import ServiceError
from db.models import Webhook
from webpanel.admin.blueprint import bp
from webpanel.admin.forms import ActionForm
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.webhooks import common


def _operators(hook_id: int) -> Webhook:
    hook = db().scalar(select(Webhook).where(Webhook.id == hook_id, Webhook.account_id.is_(None)))
    if hook is None:
        abort(404)
    return hook


def _render(
    form: common.WebhookForm | None = None, new_hook: Webhook | None = None, status: int = 200
) -> Any:
    before = common.before_arg()
    mine = request.args.get("mine") == "1"
    log = webhooks.deliveries(db(), operator_only=mine, every=not mine, before=before)
    return render_template(
        "admin/webhooks.html",
        hooks=webhooks.webhooks_of(db(), None),
        form=form or common.WebhookForm(formdata=None),
        new_hook=new_hook,
        log=log,
        mine=mine,
        before=before,
        older=log[-1].id if len(log) == webhooks.PAGE else None,
        labels=common.EVENT_LABELS,
    ), status


@bp.get("/webhooks")
def webhooks_index() -> Any:
    return _render()


@bp.post("/webhooks")
def webhook_new() -> Any:
    form = common.WebhookForm()
    if form.validate_on_submit():
        try:
            with writing():
                hook = common.create(form, None, allow_private=True, session=db())
        except ServiceError as exc:
            form.url.errors = [service_message(exc)]
        else:
            return _render(new_hook=hook)
    return _render(form=form, status=400)


@bp.post("/webhooks/<int:hook_id>/active")
def webhook_active(hook_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    hook = _operators(hook_id)
    with writing():
        common.set_active(db(), hook, request.form.get("active") == "1")
    flash(_("The webhook was enabled.") if hook.active else _("The webhook was disabled."), "success")
    return redirect(url_for(".webhooks_index"))


@bp.post("/webhooks/<int:hook_id>/delete")
def webhook_delete(hook_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    hook = _operators(hook_id)
    with writing():
        common.remove(db(), hook)
    flash(_("The webhook was deleted."), "success")
    return redirect(url_for(".webhooks_index"))


@bp.post("/webhooks/<int:hook_id>/test")
def webhook_test(hook_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    hook = _operators(hook_id)
    if not hook.active:
        flash(_("Enable the webhook first."), "error")
        return redirect(url_for(".webhooks_index"))
    with writing():
        common.send_test(db(), hook)
    flash(_("A test event is on its way: see the deliveries below."), "success")
    return redirect(url_for(".webhooks_index"))
