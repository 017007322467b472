"""The audit log's one writer: who did what to which object, from where.

Every change a person or a background job makes that an operator may have to explain later
(account and number changes, money moved by hand, a CDR the rater could not charge) goes
through `audit`, in the caller's transaction, so the entry commits or rolls back with the change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from db.models import AuditLog, User


def audit(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    account_id: int | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: int | str | None = None,
    details: dict[str, Any] | None = None,
    remote_addr: str = "",
) -> None:
    """Add one audit entry. The object is either a model instance (`obj`, its table and id are
    recorded) or named by `object_type` and `object_id` (a CDR the rater saw by id only)."""
    if obj is not None:
        object_type = type(obj).__tablename__
        object_id = getattr(obj, "id", "")
    session.add(
        AuditLog(
            actor_user_id=actor.id if actor else None,
            account_id=account_id,
            action=action,
            object_type=object_type,
            object_id="" if object_id is None else str(object_id),
            details=details or {},
            remote_addr=remote_addr,
        )
    )
