"""Registered Users: the live SIP registrations (Asterisk's ps_contacts) of the user's numbers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import PsContact, User, VirtualNumber
from webpanel.access import number_scope


@dataclass(frozen=True)
class Registration:
    virtual_number: str
    expires: int  # Unix seconds, as Asterisk stores it
    user_agent: str


def registrations(session: Session, user: User, now: float | None = None) -> list[Registration]:
    """Contacts not yet expired (Asterisk prunes expired ones only periodically), one row per
    registered device, for the virtual numbers `user` may see (the PJSIP endpoint id is the
    virtual number)."""
    now = int(now if now is not None else time.time())
    rows = session.execute(
        select(VirtualNumber.number, PsContact.expiration_time, PsContact.user_agent)
        .join(PsContact, PsContact.endpoint == VirtualNumber.number)
        .where(number_scope(user), PsContact.expiration_time > now)
        .order_by(VirtualNumber.number, PsContact.expiration_time, PsContact.id)
    )
    return [Registration(number, expires, agent or "") for number, expires, agent in rows]
