"""Service functions that create and change accounts, users and virtual numbers.

Shared by the CLI, the panel and the tests. Each takes an open Session and leaves the
commit to the caller's transaction. Secrets arrive in plain text and leave hashed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.rules import secrets as sec
from db import lockouts
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, ForwardingRule, User, VirtualNumber

VN_OPTIONS = (
    "allow_us_canada_ld",
    "allow_international_ld",
    "allow_incoming_800",
    "voicemail_enabled",
    "white_pages",
    "no_email_updates",
    "mpo",
)
PRIMARY_ONLY_OPTIONS = (
    "allow_us_canada_ld",
    "allow_international_ld",
    "allow_incoming_800",
    "voicemail_enabled",
)


def _digits(number: str, what: str = "virtual number") -> str:
    number = (number or "").strip()
    # isascii: str.isdigit() takes ¹ and ٣ too, which the table's CHECK refuses
    if not (number.isascii() and number.isdigit()) or not 4 <= len(number) <= 15:
        raise ServiceError(f"A {what} is 4 to 15 digits.")
    return number


def create_account(
    session: Session,
    *,
    login_number: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    realm: str,
    sip_password: str | None = None,
    password_hash: str | None = None,
    actor: User | None = None,
    remote_addr: str = "",
    **fields: Any,
) -> tuple[Account, User, VirtualNumber]:
    """An account with its first virtual number and its primary account holder, who logs in
    with that number. `password_hash`: stored instead of hashing `password` (issue 15: the bulk
    import's dry run, rolled back, stores a stand-in rather than spend an argon2 hash a row)."""
    account = Account(first_name=first_name, last_name=last_name, email=email, **fields)
    session.add(account)
    session.flush()
    vn = add_virtual_number(
        session,
        account,
        login_number,
        realm=realm,
        sip_password=sip_password,
        display_name=f"{first_name} {last_name}".strip(),
        actor=actor,
        remote_addr=remote_addr,
    )
    user = User(
        account_id=account.id,
        role="primary",
        login=vn.number,
        password_hash=password_hash or sec.hash_password(password),
        email=email,
    )
    session.add(user)
    session.flush()
    audit(session, "account.create", actor=actor, account_id=account.id, obj=account, remote_addr=remote_addr)
    return account, user, vn


def add_virtual_number(
    session: Session,
    account: Account,
    number: str,
    *,
    realm: str,
    sip_password: str | None = None,
    display_name: str = "",
    actor: User | None = None,
    remote_addr: str = "",
    **options: Any,
) -> VirtualNumber:
    number = _digits(number)
    if session.scalar(select(VirtualNumber.id).where(VirtualNumber.number == number)):
        raise ServiceError(f"Virtual number {number} already exists.")
    unknown = set(options) - set(VN_OPTIONS)
    if unknown:
        raise ServiceError(f"Unknown options: {', '.join(sorted(unknown))}")
    vn = VirtualNumber(account_id=account.id, number=number, display_name=display_name, **options)
    session.add(vn)
    session.flush()
    session.add(ForwardingRule(virtual_number_id=vn.id))
    if sip_password:
        set_sip_password(session, vn, sip_password, realm=realm, actor=actor, remote_addr=remote_addr)
    audit(session, "virtual_number.add", actor=actor, account_id=account.id, obj=vn, remote_addr=remote_addr)
    return vn


def check_sip_password(password: str) -> None:
    if len(password) < 10:
        raise ServiceError("A SIP password has at least 10 characters.")
    if len(password) > 64:
        raise ServiceError("A SIP password has at most 64 characters.")
    if not password.isprintable() or any(c in password for c in ' "\\;'):
        raise ServiceError("A SIP password may not contain spaces, quotes, backslashes or semicolons.")
    if password.isdigit() or password.isalpha():
        raise ServiceError("A SIP password mixes letters and digits.")


def set_sip_password(
    session: Session,
    vn: VirtualNumber,
    password: str | None,
    *,
    realm: str,
    actor: User | None = None,
    remote_addr: str = "",
) -> str:
    """Store only the HA1; returns the password (generated when None) to show once."""
    if password is None:
        password = sec.generate_sip_password()
    check_sip_password(password)
    vn.sip_md5_cred = sec.sip_md5_cred(vn.number, realm, password)
    vn.sip_password_set_at = dt.datetime.now(dt.UTC)
    session.flush()
    _audit_vn(session, "virtual_number.sip_password", vn, actor, remote_addr)
    return password


def set_vm_password(
    session: Session, vn: VirtualNumber, password: str, *, actor: User | None = None, remote_addr: str = ""
) -> None:
    if not password.isdigit() or not 4 <= len(password) <= 10:
        raise ServiceError("A voicemail password is 4 to 10 digits (it is typed on a phone keypad).")
    vn.vm_password_hash = sec.hash_password(password)
    session.flush()
    _audit_vn(session, "virtual_number.vm_password", vn, actor, remote_addr)


def set_pin(
    session: Session,
    vn: VirtualNumber,
    pin: str,
    *,
    key: str,
    actor: User | None = None,
    remote_addr: str = "",
) -> None:
    if not pin.isdigit() or not 4 <= len(pin) <= 10:
        raise ServiceError("A PIN is 4 to 10 digits.")
    # issue 13 (PIN model): PINs are not unique across the service (no "taken" answer, so no
    # oracle); the hash is keyed by the card, and setting a PIN lifts the card's PIN lockout
    if vn.id is None:
        session.flush()
    vn.pin_hmac = sec.card_pin_hmac(key, vn.id, pin)
    lockouts.unlock_sync(session, lockouts.KIND_CARD_PIN, lockouts.key_for(vn.number))
    session.flush()
    _audit_vn(session, "virtual_number.pin", vn, actor, remote_addr)


def update_options(
    session: Session,
    vn: VirtualNumber,
    *,
    as_primary: bool,
    actor: User | None = None,
    remote_addr: str = "",
    **options: bool,
) -> None:
    for name, value in options.items():
        if name not in VN_OPTIONS:
            raise ServiceError(f"Unknown option {name}.")
        if name in PRIMARY_ONLY_OPTIONS and not as_primary and getattr(vn, name) != value:
            raise ServiceError("Only the primary account holder can change that option.")
    for name, value in options.items():
        setattr(vn, name, bool(value))
    session.flush()
    _audit_vn(session, "virtual_number.options", vn, actor, remote_addr, details=options)


def _audit_vn(
    session: Session,
    action: str,
    vn: VirtualNumber,
    actor: User | None,
    remote_addr: str,
    details: dict[str, Any] | None = None,
) -> None:
    """A number's change, with who made it and from where (None and "" for scripts)."""
    audit(
        session,
        action,
        actor=actor,
        account_id=vn.account_id,
        obj=vn,
        details=details,
        remote_addr=remote_addr,
    )


def create_admin(session: Session, login: str, password: str) -> User:
    user = User(role="admin", login=login, password_hash=sec.hash_password(password))
    session.add(user)
    session.flush()
    audit(session, "admin.create", obj=user)
    return user


def add_secondary_user(
    session: Session,
    vn: VirtualNumber,
    password: str,
    email: str = "",
    *,
    actor: User | None = None,
    remote_addr: str = "",
) -> User:
    if session.scalar(select(User.id).where(User.login == vn.number)):
        raise ServiceError(f"Virtual number {vn.number} already has a login.")
    user = User(
        account_id=vn.account_id,
        role="secondary",
        login=vn.number,
        virtual_number_id=vn.id,
        password_hash=sec.hash_password(password),
        email=email,
    )
    session.add(user)
    session.flush()
    audit(
        session,
        "user.create_secondary",
        actor=actor,
        account_id=vn.account_id,
        obj=user,
        remote_addr=remote_addr,
    )
    return user


@dataclass(frozen=True)
class Login:
    user_id: int
    role: str
    account_id: int | None


def authenticate(session: Session, login: str, password: str) -> Login | None:
    """Checks the password only; account status and lockouts are the caller's (the panel's
    auth service) so it can tell a suspended member why."""
    user = session.scalar(select(User).where(User.login == login.strip()))
    if user is None:
        sec.verify_password(_DUMMY_HASH, password)  # same cost whether or not the login exists
        return None
    if not sec.verify_password(user.password_hash, password):
        return None
    return Login(user.id, user.role, user.account_id)


_DUMMY_HASH = sec.hash_password("not-a-real-password")
