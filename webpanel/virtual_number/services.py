"""Virtual Number: options with the help page's role rules, secrets, adding a number.

Secrets go through db.accounts (hashed there; a SIP password is returned once to be shown
once and never stored readable).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.rules.numbers import DialClass, classify
from controller.rules.secrets import guessable_pin
from db import accounts
from db.accounts import PRIMARY_ONLY_OPTIONS, VN_OPTIONS
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, Did, User, VirtualNumber
from webpanel.i18n import _

MAX_NUMBERS_PER_ACCOUNT = 50


def update_options(
    session: Session,
    vn: VirtualNumber,
    user: User,
    submitted: dict[str, bool],
    present: set[str],
    *,
    remote_addr: str = "",
) -> None:
    """`submitted`: every option's checkbox state; `present`: the names the request carried.

    A secondary user's page shows the primary-only boxes disabled, and browsers do not send
    disabled boxes: for them, an absent primary-only box means "unchanged", and one that is
    sent (a forged request) must match the stored value or the whole update is refused."""
    as_primary = user.role == "primary"
    options = {}
    for name in VN_OPTIONS:
        if name in PRIMARY_ONLY_OPTIONS and not as_primary:
            if name in present:
                options[name] = bool(submitted.get(name))
            continue
        options[name] = bool(submitted.get(name))
    accounts.update_options(
        session, vn, as_primary=as_primary, actor=user, remote_addr=remote_addr, **options
    )


def check_new_virtual_number(session: Session, number: str) -> str:
    """A new on-net number must not shadow anything a member can dial: the call routes treat
    a dialed string that matches a virtual number as on-net before the PSTN, so a virtual
    number equal to a real PSTN number (as dialed with or without the 1, or after 011) would
    capture other members' calls to it."""
    number = (number or "").strip()
    if not number.isdigit() or not 4 <= len(number) <= 15:
        raise ServiceError(_("A virtual number is 4 to 15 digits, nothing else."))
    as_dialed = [number, "011" + number]
    if len(number) == 11 and number.startswith("1"):
        as_dialed.append(number[1:])
    if len(number) == 7:  # 7-digit local dialing would reach it from every area code
        raise ServiceError(_("A virtual number cannot be 7 digits (that is a local phone number)."))
    for dialed in as_dialed:
        if classify(dialed).dial_class is not DialClass.INVALID:
            raise ServiceError(
                _(
                    "%(number)s is a public telephone number; choose a virtual number "
                    "outside the public numbering plan.",
                    number=number,
                )
            )
    if session.scalar(select(VirtualNumber.id).where(VirtualNumber.number == number)):
        raise ServiceError(_("Virtual number %(number)s is already taken; choose another.", number=number))
    if session.scalar(select(Did.id).where(Did.number == number)):
        raise ServiceError(_("%(number)s is a DID number; choose another.", number=number))
    return number


def add_number(
    session: Session,
    account: Account,
    user: User,
    number: str,
    name: str,
    *,
    realm: str,
    remote_addr: str = "",
) -> VirtualNumber:
    if user.role != "primary" or user.account_id != account.id:
        raise ServiceError(_("Only the primary account holder can add a virtual number."))
    count = session.scalars(
        select(func.count()).select_from(VirtualNumber).where(VirtualNumber.account_id == account.id)
    ).one()
    if count >= MAX_NUMBERS_PER_ACCOUNT:
        raise ServiceError(
            _("An account has at most %(count)s virtual numbers.", count=MAX_NUMBERS_PER_ACCOUNT)
        )
    number = check_new_virtual_number(session, number)
    name = " ".join((name or "").split())[:80] or f"{account.first_name} {account.last_name}".strip()
    try:
        with session.begin_nested():
            vn = accounts.add_virtual_number(
                session,
                account,
                number,
                realm=realm,
                display_name=name,
                actor=user,
                remote_addr=remote_addr,
            )
    except IntegrityError:  # someone took it between the check and the insert
        raise ServiceError(
            _("Virtual number %(number)s is already taken; choose another.", number=number)
        ) from None
    audit(
        session,
        "panel.virtual_number.add",
        actor=user,
        account_id=account.id,
        obj=vn,
        remote_addr=remote_addr,
    )
    return vn


def set_pin(
    session: Session, vn: VirtualNumber, user: User, pin: str, *, key: str, remote_addr: str = ""
) -> None:
    """accounts.set_pin (audited there). PINs are not unique across the service (issue 13: the
    calling card asks for the card number first), so any well-formed PIN is accepted and no
    answer depends on what other members chose. Setting a PIN also lifts the card's lockout."""
    if guessable_pin(pin):
        raise ServiceError(
            _(
                "That PIN is among the first ones a guesser tries (a run, a repeated digit or a common PIN); choose another."
            )
        )
    # the same answer whoever asks (nothing is counted per user); the audit names who and where
    accounts.set_pin(session, vn, pin, key=key, actor=user, remote_addr=remote_addr)
