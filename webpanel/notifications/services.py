"""The notification settings of an account: read (the defaults when it has no row) and saved
with the low balance threshold (accounts.low_balance_threshold, shared with the webhooks'
balance.low event), audited with the actor and address."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.audit import audit
from db.models import Account, NotificationSettings, User

SWITCHES = (
    "missed_call",
    "voicemail_email",
    "voicemail_attach",
    "voicemail_delete_after",
    "low_balance",
    "weekly_summary",
)
# no row: these (the migration's column defaults)
DEFAULTS = {
    "missed_call": False,
    "voicemail_email": True,
    "voicemail_attach": True,
    "voicemail_delete_after": False,
    "low_balance": False,
    "weekly_summary": False,
}


def current(session: Session, account: Account) -> dict[str, Any]:
    """Every switch and the threshold, as the form shows them."""
    row = session.get(NotificationSettings, account.id)
    values: dict[str, Any] = {
        name: DEFAULTS[name] if row is None else bool(getattr(row, name)) for name in SWITCHES
    }
    values["threshold"] = account.low_balance_threshold
    return values


def save(
    session: Session, account: Account, actor: User, values: dict[str, Any], *, remote_addr: str = ""
) -> dict[str, Any]:
    """Store the switches and the threshold; returns what changed (name -> [from, to]), audited."""
    before = current(session, account)
    changed: dict[str, Any] = {}
    for name in SWITCHES:
        if bool(values[name]) != before[name]:
            changed[name] = [before[name], bool(values[name])]
    threshold: Decimal | None = values["threshold"]
    if threshold != before["threshold"]:
        changed["threshold"] = [_text(before["threshold"]), _text(threshold)]
        account.low_balance_threshold = threshold
    if not changed:
        return changed
    switches = {name: bool(values[name]) for name in SWITCHES}
    stmt = insert(NotificationSettings).values(account_id=account.id, **switches)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[NotificationSettings.account_id],
            set_={
                **{name: getattr(stmt.excluded, name) for name in SWITCHES},
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )
    session.flush()
    audit(
        session,
        "notifications.update",
        actor=actor,
        account_id=account.id,
        object_type="notification_settings",
        object_id=account.id,
        details={"changed": changed},
        remote_addr=remote_addr,
    )
    return changed


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)
