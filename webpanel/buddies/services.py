"""Buddy List: each user's own frequently called numbers."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.rules.numbers import normalize
from db.errors import ServiceError
from db.models import Buddy, User
from webpanel.i18n import _
from webpanel.validation import FieldErrors

MAX_BUDDIES = 200


def _clean(name: str, virtual_number: str, pstn_phone: str) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = [_("Enter your contact's name.")]
    elif len(name) > 120:
        errors["name"] = [_("A name has at most 120 characters.")]
    vnum = (virtual_number or "").strip()
    if vnum and not (vnum.isdigit() and 4 <= len(vnum) <= 15):
        errors["virtual_number"] = [_("A virtual number is 4 to 15 digits.")]
    raw_pstn = (pstn_phone or "").strip()
    pstn = normalize(raw_pstn) if raw_pstn else ""
    if raw_pstn and pstn is None:
        errors["pstn_phone"] = [
            _(
                "Enter the PSTN phone as you would dial it (digits, optionally + "
                "and spaces, dashes, dots or brackets)."
            )
        ]
    if not vnum and not raw_pstn and "name" not in errors:
        errors["virtual_number"] = [_("Enter a virtual number, a PSTN phone, or both.")]
    if errors:
        raise FieldErrors(errors)
    return {"name": name, "virtual_number": vnum, "pstn_phone": pstn or ""}


def add_buddy(
    session: Session, user: User, *, name: str, virtual_number: str = "", pstn_phone: str = ""
) -> Buddy:
    clean = _clean(name, virtual_number, pstn_phone)
    count = session.scalars(select(func.count()).select_from(Buddy).where(Buddy.user_id == user.id)).one()
    if count >= MAX_BUDDIES:
        raise ServiceError(_("A Buddy List holds at most %(count)s contacts.", count=MAX_BUDDIES))
    buddy = Buddy(user_id=user.id, **clean)
    session.add(buddy)
    session.flush()
    return buddy


def update_buddy(
    session: Session, user: User, buddy: Buddy, *, name: str, virtual_number: str = "", pstn_phone: str = ""
) -> Buddy:
    if buddy.user_id != user.id:
        raise ServiceError(_("That contact is not in your Buddy List."))
    for key, value in _clean(name, virtual_number, pstn_phone).items():
        setattr(buddy, key, value)
    session.flush()
    return buddy


def delete_buddy(session: Session, user: User, buddy: Buddy) -> None:
    if buddy.user_id != user.id:
        raise ServiceError(_("That contact is not in your Buddy List."))
    session.delete(buddy)
    session.flush()


def buddies(session: Session, user: User) -> list[Buddy]:
    return list(
        session.scalars(
            select(Buddy).where(Buddy.user_id == user.id).order_by(func.lower(Buddy.name), Buddy.id)
        )
    )
