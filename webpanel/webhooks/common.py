"""What the member's Webhooks page and the operator's share: the forms, the URL check's
messages, and the writes (each audited). A webhook belongs to an account (account_id) or to the
operator (None); the callers check who may touch which before calling these."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from controller.rules import amounts
from controller.rules import webhooks as rules
from db import webhooks
from db.audit import audit
from db.errors import ServiceError
from db.models import WEBHOOK_EVENTS, Webhook
from webpanel.choices import options
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import AmountField, strip

EVENT_LABELS = {
    "call.ended": _l("Call ended (with its charge)"),
    "voicemail.new": _l("New voicemail"),
    "fax.new": _l("New fax"),
    "balance.low": _l("Low balance"),
    "fraud.tripped": _l("Fraud rule tripped"),
    webhooks.TEST_EVENT: _l("Test event"),
}


class EventsField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WebhookForm(FlaskForm):
    url = StringField(
        _l("URL"), [DataRequired(_l("Enter the URL.")), Length(max=rules.MAX_URL)], filters=[strip]
    )
    events = EventsField(
        _l("Events"),
        [DataRequired(_l("Choose at least one event."))],
        choices=options((e, EVENT_LABELS[e]) for e in WEBHOOK_EVENTS),
    )


class ThresholdForm(FlaskForm):
    threshold = AmountField(
        _l("Low balance threshold"), column=amounts.MONEY, largest=amounts.MONEY.largest, what=""
    )


def url_message(problem: str) -> str:
    messages = {
        "scheme": _("Only http:// and https:// addresses can receive webhooks."),
        "private": _("A private, local or loopback address cannot receive webhooks."),
        "credentials": _("Leave the user name and password out of the URL."),
        "too_long": _("The URL is too long."),
    }
    return messages.get(problem, _("Enter a valid URL, such as https://example.com/hooks."))


def create(form: WebhookForm, account_id: int | None, *, allow_private: bool, session: Any) -> Webhook:
    """The new webhook (its secret is shown once, by the caller), or ServiceError."""
    url = form.url.data or ""
    problem = rules.url_problem(url, allow_private=allow_private)
    if problem is not None:
        raise ServiceError(url_message(problem))
    cond = Webhook.account_id.is_(None) if account_id is None else Webhook.account_id == account_id
    if (
        session.scalar(select(func.count()).select_from(Webhook).where(cond)) or 0
    ) >= webhooks.MAX_PER_ACCOUNT:
        raise ServiceError(_("At most %(n)s webhooks: delete one first.", n=webhooks.MAX_PER_ACCOUNT))
    hook = webhooks.create(session, account_id, url, list(form.events.data or []), g.user.id)
    audit(
        session,
        "webhook.create",
        actor=g.user,
        account_id=account_id,
        obj=hook,
        details={"url": hook.url, "events": hook.events},
        remote_addr=request.remote_addr or "",
    )
    return hook


def set_active(session: Any, hook: Webhook, active: bool) -> None:
    webhooks.set_active(session, hook, active)
    audit(
        session,
        "webhook.enable" if active else "webhook.disable",
        actor=g.user,
        account_id=hook.account_id,
        obj=hook,
        details={"url": hook.url},
        remote_addr=request.remote_addr or "",
    )


def remove(session: Any, hook: Webhook) -> None:
    audit(
        session,
        "webhook.delete",
        actor=g.user,
        account_id=hook.account_id,
        obj=hook,
        details={"url": hook.url},
        remote_addr=request.remote_addr or "",
    )
    session.delete(hook)


def send_test(session: Any, hook: Webhook) -> None:
    webhooks.enqueue_test(session, hook)
    audit(
        session,
        "webhook.test",
        actor=g.user,
        account_id=hook.account_id,
        obj=hook,
        details={"url": hook.url},
        remote_addr=request.remote_addr or "",
    )


def before_arg() -> int | None:
    """The delivery log's keyset: deliveries older than this id (?before=)."""
    raw = request.args.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None
