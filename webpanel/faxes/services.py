"""Faxes: the faxes received on the account's Fax-to-Email DIDs.

A fax DID belongs to the account, not to a virtual number (connected to Fax to Email it rings
no number), so its faxes are the primary account holder's: a secondary user, who sees only what
belongs to their own number, sees none.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from db.audit import audit
from db.errors import ServiceError
from db.models import Fax, User
from webpanel.i18n import _

PAGE_SIZE = 25


@dataclass(frozen=True)
class Page:
    rows: list[tuple[Fax, bool]]  # (fax without its PDF loaded, has a PDF)
    total: int
    page: int
    pages: int

    @property
    def first_record(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last_record(self) -> int:
        return self.first_record + len(self.rows) - 1 if self.rows else 0


def may_see_faxes(user: User) -> bool:
    return user.role == "primary" and user.account_id is not None


def faxes(session: Session, user: User, page: int | None = 1) -> Page:
    """Newest first; `page` None is the last page."""
    if not may_see_faxes(user):
        return Page([], 0, 1, 1)
    where = Fax.account_id == user.account_id
    total = session.scalar(select(func.count()).select_from(Fax).where(where)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = pages if page is None else min(max(1, page), pages)
    rows = session.execute(
        select(Fax, Fax.pdf.is_not(None))
        .options(defer(Fax.pdf))
        .where(where)
        .order_by(Fax.received_at.desc(), Fax.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return Page([(fax, bool(has_pdf)) for fax, has_pdf in rows], total, page, pages)


def delete_fax(session: Session, user: User, fax: Fax, *, remote_addr: str = "") -> None:
    if not may_see_faxes(user) or fax.account_id != user.account_id:
        raise ServiceError(_("That fax is not one of your account's faxes."))
    audit(
        session,
        "fax.delete",
        actor=user,
        account_id=fax.account_id,
        obj=fax,
        details={
            "received_at": fax.received_at.isoformat(),
            "pages": fax.pages,
            "remote_station_id": fax.remote_station_id,
        },
        remote_addr=remote_addr,
    )
    session.delete(fax)
    session.flush()
