"""Virtual Number: options with the help page's role rules, secrets, adding a number.

Secrets go through db.accounts (hashed there; a SIP password is returned once to be shown
once and never stored readable).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.rules.numbers import DialClass, classify
from db import accounts
from db.accounts import PRIMARY_ONLY_OPTIONS, VN_OPTIONS
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, AuditLog, Did, User, VirtualNumber
from webpanel.i18n import _, service_message

MAX_NUMBERS_PER_ACCOUNT = 50
# PINs are unique across the service (a PIN names its calling card), so "that PIN is taken"
# tells the member that some other card uses it: a few such answers an hour, no more.
MAX_TAKEN_PINS = 3
TAKEN_PIN_WINDOW = dt.timedelta(hours=1)


def update_options(
    session: Session, vn: VirtualNumber, user: User, submitted: dict[str, bool], present: set[str]
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
    accounts.update_options(session, vn, as_primary=as_primary, **options)


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
            vn = accounts.add_virtual_number(session, account, number, realm=realm, display_name=name)
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
    """accounts.set_pin, throttled: each refusal because the PIN is in use is counted, and
    after MAX_TAKEN_PINS in an hour the account may not try more PINs until it passes."""
    since = dt.datetime.now(dt.UTC) - TAKEN_PIN_WINDOW
    taken = session.scalars(
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.account_id == vn.account_id, AuditLog.action == "panel.pin_taken", AuditLog.at > since
        )
    ).one()
    if taken >= MAX_TAKEN_PINS:
        raise ServiceError(
            _(
                "Too many PINs that are not available were tried; please wait an hour "
                "and choose a less common PIN."
            )
        )
    try:
        with session.begin_nested():
            accounts.set_pin(session, vn, pin, key=key)
    except ServiceError as exc:
        if "not available" in str(exc):  # db.accounts' English message
            audit(
                session,
                "panel.pin_taken",
                actor=user,
                account_id=vn.account_id,
                obj=vn,
                remote_addr=remote_addr,
            )
            session.flush()
            raise PinTaken(service_message(exc)) from None
        raise


class PinTaken(ServiceError):
    """The PIN is another card's; the refusal is recorded (the caller commits it)."""
