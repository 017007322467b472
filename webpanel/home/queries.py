"""What the dashboard shows."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import PsContact, User, VirtualNumber
from webpanel.access import number_scope


@dataclass(frozen=True)
class NumberSummary:
    number: str
    display_name: str
    voicemail_enabled: bool
    registered_devices: int


def dashboard_numbers(session: Session, user: User, now: float | None = None) -> list[NumberSummary]:
    """The user's virtual numbers, each with how many devices are registered right now."""
    now = int(now if now is not None else time.time())
    live = (
        select(PsContact.endpoint, func.count().label("devices"))
        .where(PsContact.expiration_time > now)
        .group_by(PsContact.endpoint)
        .subquery()
    )
    rows = session.execute(
        select(
            VirtualNumber.number,
            VirtualNumber.display_name,
            VirtualNumber.voicemail_enabled,
            func.coalesce(live.c.devices, 0),
        )
        .outerjoin(live, live.c.endpoint == VirtualNumber.number)
        .where(number_scope(user))
        .order_by(VirtualNumber.number)
    )
    return [NumberSummary(*row) for row in rows]
