"""Helpers for the notification emails' tests: members, switches, rounds, the mail received."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from controller.services import notifications
from db.models import NotificationSettings
from db.session import transaction
from tests.support.members import Member, new_member
from tests.support.realparts import unique_number


def member(factory, settings, *, credit: tuple[str, ...] = (), **fields: Any) -> Member:
    """A member with its own address (unique per test), UTC unless `time_zone` says."""
    fields.setdefault("email", f"n{unique_number('9')}@example.test")
    fields.setdefault("time_zone", "UTC")
    return new_member(factory, realm=settings.sip_realm, credit=credit, **fields)


def switch(factory, m: Member, **switches: bool) -> None:
    """Set the member's notification switches (the others keep their defaults)."""
    values = {**notifications.DEFAULTS, **switches}
    with transaction(factory) as s:
        stmt = insert(NotificationSettings).values(account_id=m.account_id, **values)
        s.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))


def email_of(factory, m: Member) -> str:
    from db.models import Account

    with factory() as s:
        return s.get_one(Account, m.account_id).email


def to(sink, address: str) -> list:
    """The messages `address` received, in arrival order (other tests' members may get mail
    in the same rounds)."""
    return [mail for mail in sink.messages if address in mail.rcpt_tos]


def round_at(factory, settings, now: dt.datetime | None = None) -> notifications.RoundResult:
    return notifications.run_round(factory, settings, now or dt.datetime.now(dt.UTC))


def later(seconds: float = 60) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
