"""Webhooks' data: the registrations (panel) and the deliveries' queue (controller's sender).

The deliveries are queued by the triggers of migration 0026 (an outbox, in the event's own
transaction); the sender claims due ones with FOR UPDATE SKIP LOCKED and leases them (moves
next_attempt_at LEASE_SECONDS ahead) in a short transaction, so no transaction stays open while
it waits on HTTP and several controllers never send the same delivery at once.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db.models import WEBHOOK_EVENTS, Account, Webhook, WebhookDelivery

NOTIFY_CHANNEL = "webhook_new"
TEST_EVENT = "webhook.test"
LEASE_SECONDS = 60
MAX_PER_ACCOUNT = 10
PAGE = 50


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)  # 54 characters (the column holds 64)


def webhooks_of(session: Session, account_id: int | None) -> list[Webhook]:
    """An account's webhooks, or the operator's (None)."""
    cond = Webhook.account_id.is_(None) if account_id is None else Webhook.account_id == account_id
    return list(session.scalars(select(Webhook).where(cond).order_by(Webhook.id)).all())


def create(
    session: Session, account_id: int | None, url: str, events: list[str], user_id: int | None
) -> Webhook:
    bad = [e for e in events if e not in WEBHOOK_EVENTS]
    if bad or not events:
        raise ValueError("events")
    hook = Webhook(
        account_id=account_id,
        url=url.strip(),
        secret=new_secret(),
        events=[e for e in WEBHOOK_EVENTS if e in events],
        active=True,
        created_by=user_id,
    )
    session.add(hook)
    session.flush()
    return hook


def set_active(session: Session, hook: Webhook, active: bool) -> int:
    """Enable or disable a webhook. Disabling gives up its pending deliveries (logged "webhook
    disabled"): they would otherwise sit at the head of the due index, stepped over by every
    claim, and all go out, however old, when it is enabled again. How many were given up."""
    hook.active = active
    if active:
        return 0
    session.flush()
    result = session.execute(
        text(
            "UPDATE webhook_deliveries SET failed_at = now(), last_error = 'webhook disabled'"
            " WHERE webhook_id = :w AND delivered_at IS NULL AND failed_at IS NULL"
        ),
        {"w": hook.id},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def enqueue_test(session: Session, hook: Webhook) -> None:
    """A 'webhook.test' delivery to this webhook only, sent like any other."""
    session.execute(
        text(
            "INSERT INTO webhook_deliveries (webhook_id, event, payload) VALUES (:w, :e, CAST(:p AS jsonb))"
        ),
        {
            "w": hook.id,
            "e": TEST_EVENT,
            "p": json.dumps({"account_id": hook.account_id, "webhook_id": hook.id, "test": True}),
        },
    )
    session.execute(text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"))


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    webhook_id: int
    url: str
    account_id: int | None
    event: str
    event_id: str
    created_at: dt.datetime
    attempts: int
    next_attempt_at: dt.datetime
    last_status: int | None
    last_error: str
    delivered_at: dt.datetime | None
    failed_at: dt.datetime | None

    @property
    def state(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.failed_at is not None:
            return "failed"
        return "pending"


def deliveries(
    session: Session,
    *,
    account_id: int | None = None,
    operator_only: bool = False,
    every: bool = False,
    before: int | None = None,
    limit: int = PAGE,
) -> list[DeliveryRow]:
    """Newest first, keyset paged by id (`before`): an account's deliveries, the operator's
    webhooks' (operator_only) or every one (every)."""
    q = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.webhook_id,
            Webhook.url,
            Webhook.account_id,
            WebhookDelivery.event,
            WebhookDelivery.event_id,
            WebhookDelivery.created_at,
            WebhookDelivery.attempts,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.last_status,
            WebhookDelivery.last_error,
            WebhookDelivery.delivered_at,
            WebhookDelivery.failed_at,
        )
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if not every:
        if operator_only:
            q = q.where(Webhook.account_id.is_(None))
        else:
            q = q.where(Webhook.account_id == account_id)
    if before is not None:
        q = q.where(WebhookDelivery.id < before)
    return [DeliveryRow(*r) for r in session.execute(q).all()]


def set_threshold(session: Session, account: Account, value: Any) -> None:
    account.low_balance_threshold = value


# ---------------------------------------------------------------------------------------------
# The sender's side (async)


@dataclass(frozen=True)
class Due:
    id: int
    event: str
    event_id: str
    payload: dict[str, Any]
    created_at: dt.datetime
    attempts: int
    url: str
    secret: str
    account_id: int | None


CLAIM_SQL = f"""
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= now()
           AND w.active
         ORDER BY d.next_attempt_at LIMIT :n
           FOR UPDATE OF d SKIP LOCKED)
    UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '{LEASE_SECONDS} seconds'
      FROM due, webhooks w
     WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING d.id, d.event, d.event_id::text, d.payload, d.created_at, d.attempts, w.url, w.secret,
              w.account_id"""


async def claim(session: AsyncSession, batch: int) -> list[Due]:
    rows = (await session.execute(text(CLAIM_SQL), {"n": batch})).all()
    return [Due(*r) for r in rows]


async def record_result(
    session: AsyncSession,
    delivery_id: int,
    *,
    status: int | None,
    error: str,
    delivered: bool,
    retry_in: float | None,
) -> None:
    """One attempt's outcome: delivered, or retried in `retry_in` seconds, or (None) given up."""
    await session.execute(
        text(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = :status,"
            " last_error = left(:error, 300),"
            " delivered_at = CASE WHEN :ok THEN now() END,"
            " failed_at = CASE WHEN NOT :ok AND CAST(:retry AS float8) IS NULL THEN now() END,"
            " next_attempt_at = CASE WHEN :ok OR CAST(:retry AS float8) IS NULL THEN next_attempt_at"
            "   ELSE now() + make_interval(secs => CAST(:retry AS float8)) END"
            " WHERE id = :id"
        ),
        {"status": status, "error": error, "ok": delivered, "retry": retry_in, "id": delivery_id},
    )
