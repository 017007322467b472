"""Two-factor login (issue 16): TOTP codes, recovery codes, remembered browsers.

- The TOTP secret (pyotp, RFC 6238, 30 s steps, 6 digits) is kept in users.totp_secret_enc
  ENCRYPTED: AES-GCM with a key derived from the panel's secret key (VOIP_SECRET_KEY), the
  user's id as associated data (a copied value opens nothing on another row). Never logged.
  Enrolment writes the secret with totp_enabled_at NULL ("pending"); a valid code turns it on.
- A code is good within one step either side of now, and once: users.totp_last_step keeps the
  last accepted step (read under a row lock), a code of that step or older is a replay.
- Wrong codes are counted in the lockouts table (KIND_CODE, race-free `take_sync` BEFORE the
  code is compared): CODE_LIMIT per user and CODE_ADDRESS_LIMIT per address per CODE_WINDOW,
  then locked for CODE_WINDOW. Recovery codes count the same.
- Recovery codes: RECOVERY_COUNT random codes shown once, kept as argon2id hashes, each good
  once (used_at). A code is ~50 random bits (not a chosen password), so its hasher is a
  lighter argon2id than the passwords' (1 pass, 8 MiB): making ten at enrolment and trying
  up to ten at a login stays well under the cost of ONE password hash.
- Browsers: a random cookie (DEVICE_COOKIE) whose SHA-256 is user_devices.token_hash. A login
  from a browser without a known cookie makes a row (and the new-device email, except for an
  account's first browser ever: there is nothing to compare with, and the owner just made
  the account); "remember this device" sets remember_until, which skips the code step until
  then. A password change forgets every remembered device (trigger, migration 0032).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error, InvalidHashError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Row, bindparam, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from controller.rules import secrets as sec
from db import lockouts
from db import twofactor as db_twofactor
from db.audit import audit
from db.models import Lockout, PanelSession, User, UserDevice, UserRecoveryCode
from webpanel.auth import services as auth_services

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
RECOVERY_LENGTH = 10
REMEMBER_FOR = dt.timedelta(days=30)
PENDING_FOR = dt.timedelta(minutes=5)  # password ok, awaiting the code
KIND_CODE = "totp_code"  # lockouts.kind is at most 16 characters
CODE_LIMIT = 5
CODE_ADDRESS_LIMIT = 20  # wrong codes from one address (an IPv6 /64), all users together
CODE_WINDOW = dt.timedelta(minutes=15)
DEVICE_COOKIE = "voip_device"
DEVICE_COOKIE_DAYS = 400  # the longest a browser keeps a cookie
DEVICE_TOKEN_BYTES = 32
DEVICE_KEEP = dt.timedelta(days=180)  # browsers unseen this long (and not remembered) are dropped
DEVICES_SHOWN = 20  # the page lists the most recently seen browsers; "Forget every browser" covers all
_PREFIX = "v1:"
_PRODUCT = re.compile(r"[A-Za-z0-9._-]{1,30}(?:/[A-Za-z0-9._-]{1,20})?")
_code_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


class Verdict(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    REPLAY = "replay"  # a right code, already used
    LOCKED = "locked"  # too many wrong codes: not compared


# --- the secret at rest ------------------------------------------------------------------------


def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"voip-panel-totp-secret\x00" + secret_key.encode()).digest()


def encrypt_secret(secret_key: str, user_id: int, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(secret_key)).encrypt(nonce, secret.encode(), f"user:{user_id}".encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(secret_key: str, user_id: int, stored: str) -> str | None:
    """The secret, or None if it cannot be opened (another key, another row, tampered)."""
    if not stored or not stored.startswith(_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :].encode())
        return AESGCM(_key(secret_key)).decrypt(raw[:12], raw[12:], f"user:{user_id}".encode()).decode()
    except (InvalidTag, ValueError):
        return None


def is_enabled(user: User) -> bool:
    return db_twofactor.is_on(user)


def pending_secret(user: User, secret_key: str) -> str | None:
    """The secret of an enrolment not confirmed yet."""
    if user.totp_enabled_at is not None or not user.totp_secret_enc:
        return None
    return decrypt_secret(secret_key, user.id, user.totp_secret_enc)


def provisioning_uri(secret: str, login: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=login, issuer_name=issuer or None
    )


def qr_svg(uri: str, title: str) -> str:
    """The otpauth URI as an inline SVG QR code (no inline style: the CSP forbids it)."""
    return segno.make(uri, error="m").svg_inline(scale=5, title=title, svgclass="qr-code")


# --- enrolment ---------------------------------------------------------------------------------


def start_enrolment(session: Session, user: User, *, secret_key: str, remote_addr: str) -> str:
    """A new pending secret (replacing any pending one); 2FA stays off until confirmed."""
    if is_enabled(user):
        raise ValueError("two-factor login is already on")
    secret = pyotp.random_base32()
    user.totp_secret_enc = encrypt_secret(secret_key, user.id, secret)
    user.totp_enabled_at = None
    user.totp_last_step = None
    audit(
        session,
        "user.2fa_enrol_started",
        actor=user,
        account_id=user.account_id,
        obj=user,
        remote_addr=remote_addr,
    )
    session.flush()
    return secret


def take_attempt(session: Session, user: User, remote_addr: str = "") -> lockouts.Taken:
    """Count one code attempt BEFORE comparing it, per user and per address (someone holding
    several users' passwords gets CODE_ADDRESS_LIMIT guesses from one address, not CODE_LIMIT
    per user); refused when either is spent. The caller commits at once."""
    by_address = lockouts.take_sync(
        session,
        KIND_CODE,
        _address_key(remote_addr),
        limit=CODE_ADDRESS_LIMIT,
        window=CODE_WINDOW,
        lock_for=CODE_WINDOW,
    )
    if not by_address.allowed:  # a spent address does not use up the user's own attempts too
        return by_address
    return lockouts.take_sync(
        session, KIND_CODE, _attempt_key(user.id), limit=CODE_LIMIT, window=CODE_WINDOW, lock_for=CODE_WINDOW
    )


def _attempt_key(user_id: int) -> str:
    return lockouts.key_for(f"{KIND_CODE}:user:{user_id}")


def _address_key(remote_addr: str) -> str:
    return lockouts.key_for(f"{KIND_CODE}:addr:{auth_services.source(remote_addr)}")


def _normal(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())[:32]


def match_step(secret: str, code: str, last_step: int | None, now: dt.datetime) -> tuple[Verdict, int | None]:
    """Pure: whether `code` is the TOTP of a step within one of now's, and not already used."""
    code = _normal(code)
    if len(code) != DIGITS or not code.isdigit():
        return Verdict.WRONG, None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if last_step is not None and step <= last_step:
                return Verdict.REPLAY, step
            return Verdict.OK, step
    return Verdict.WRONG, None


def _check_totp(session: Session, user: User, code: str, secret_key: str, now: dt.datetime) -> Verdict:
    """Compare under a lock of the user's row: two requests with one code cannot both pass."""
    last_step = session.scalar(select(User.totp_last_step).where(User.id == user.id).with_for_update())
    secret = decrypt_secret(secret_key, user.id, user.totp_secret_enc or "")
    if secret is None:
        return Verdict.WRONG
    verdict, step = match_step(secret, code, last_step, now)
    if verdict is Verdict.OK:
        user.totp_last_step = step
    return verdict


def confirm_enrolment(
    session: Session,
    user: User,
    code: str,
    *,
    secret_key: str,
    remote_addr: str,
    now: dt.datetime | None = None,
) -> tuple[Verdict, list[str]]:
    """Turn 2FA on if `code` is right for the pending secret; returns the recovery codes."""
    now = now or dt.datetime.now(dt.UTC)
    verdict = _check_totp(session, user, code, secret_key, now)
    if verdict is not Verdict.OK:
        _failed(session, user, "user.2fa_enrol_failed", remote_addr)
        return verdict, []
    _succeeded(session, user, remote_addr)
    user.totp_enabled_at = now
    codes = _new_recovery_codes(session, user, now)
    # browsers remembered before 2FA was on were never asked a code: they start unremembered
    db_twofactor.forget_remembered(session, user.id)
    audit(
        session, "user.2fa_enabled", actor=user, account_id=user.account_id, obj=user, remote_addr=remote_addr
    )
    session.flush()
    return verdict, codes


def _new_recovery_codes(session: Session, user: User, now: dt.datetime) -> list[str]:
    session.execute(delete(UserRecoveryCode).where(UserRecoveryCode.user_id == user.id))
    codes = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        for _ in range(RECOVERY_COUNT)
    ]
    for code in codes:
        session.add(UserRecoveryCode(user_id=user.id, code_hash=_code_hasher.hash(code), created_at=now))
    session.flush()
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def regenerate_recovery_codes(
    session: Session,
    user: User,
    code: str,
    *,
    secret_key: str,
    remote_addr: str,
    now: dt.datetime | None = None,
) -> tuple[Verdict, list[str]]:
    """New recovery codes (the old ones stop working), against a current TOTP code."""
    now = now or dt.datetime.now(dt.UTC)
    verdict = _check_totp(session, user, code, secret_key, now)
    if verdict is not Verdict.OK:
        _failed(session, user, "user.2fa_codes_failed", remote_addr)
        return verdict, []
    _succeeded(session, user, remote_addr)
    codes = _new_recovery_codes(session, user, now)
    audit(
        session,
        "user.2fa_recovery_codes",
        actor=user,
        account_id=user.account_id,
        obj=user,
        remote_addr=remote_addr,
    )
    session.flush()
    return verdict, codes


def disable(
    session: Session,
    user: User,
    password: str,
    code: str,
    *,
    secret_key: str,
    remote_addr: str,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """Turn 2FA off: needs the password and a code (TOTP or recovery). Returns the wrong
    fields' names with their problem ("password", "code": "wrong" / "replay")."""
    now = now or dt.datetime.now(dt.UTC)
    problems: dict[str, str] = {}
    if not sec.verify_password(user.password_hash, password or ""):
        problems["password"] = "wrong"  # the code is not even compared (nor used up)
    else:
        verdict = check_code(
            session, user, code, secret_key=secret_key, now=now, count=False, remote_addr=remote_addr
        )
        if verdict is not Verdict.OK:
            problems["code"] = verdict.value
    if problems:
        _failed(session, user, "user.2fa_disable_failed", remote_addr)
        return problems
    _succeeded(session, user, remote_addr)
    db_twofactor.turn_off(session, user)
    audit(
        session,
        "user.2fa_disabled",
        actor=user,
        account_id=user.account_id,
        obj=user,
        remote_addr=remote_addr,
    )
    session.flush()
    return {}


def recovery_codes_left(session: Session, user_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(UserRecoveryCode)
            .where(UserRecoveryCode.user_id == user_id, UserRecoveryCode.used_at.is_(None))
        )
        or 0
    )


# --- the login's code step ---------------------------------------------------------------------


def _looks_like_recovery(code: str) -> bool:
    return len(code) == RECOVERY_LENGTH and all(ch in RECOVERY_ALPHABET for ch in code)


def _use_recovery_code(session: Session, user: User, code: str, now: dt.datetime) -> bool:
    rows = session.execute(
        select(UserRecoveryCode.id, UserRecoveryCode.code_hash)
        .where(UserRecoveryCode.user_id == user.id, UserRecoveryCode.used_at.is_(None))
        .order_by(UserRecoveryCode.id)
    ).all()
    for row_id, code_hash in rows:
        if _code_matches(code_hash, code):
            used = session.execute(
                update(UserRecoveryCode)
                .where(UserRecoveryCode.id == row_id, UserRecoveryCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(used, "rowcount", 0))
    return False


def _code_matches(code_hash: str, code: str) -> bool:
    try:
        return _code_hasher.verify(code_hash, code)
    except (Argon2Error, InvalidHashError):
        return False


def check_code(
    session: Session,
    user: User,
    code: str,
    *,
    secret_key: str,
    now: dt.datetime | None = None,
    count: bool = True,
    remote_addr: str = "",
) -> Verdict:
    """A TOTP code or a recovery code of an enabled user. The attempt must already be counted
    (take_attempt); a success lifts the count, a failure is audited (when `count`)."""
    now = now or dt.datetime.now(dt.UTC)
    if not is_enabled(user):
        return Verdict.WRONG
    normal = _normal(code)
    if _looks_like_recovery(normal):
        # the user's row lock serializes two uses of one recovery code
        session.scalar(select(User.id).where(User.id == user.id).with_for_update())
        verdict = Verdict.OK if _use_recovery_code(session, user, normal, now) else Verdict.WRONG
        kind = "recovery"
    else:
        verdict = _check_totp(session, user, normal, secret_key, now)
        kind = "totp"
    if count and verdict is Verdict.OK:
        _succeeded(session, user, remote_addr)
        audit(
            session,
            "auth.2fa_ok",
            actor=user,
            account_id=user.account_id,
            obj=user,
            details={"with": kind, "recovery_codes_left": recovery_codes_left(session, user.id)}
            if kind == "recovery"
            else {"with": kind},
            remote_addr=remote_addr,
        )
    session.flush()
    return verdict


def code_failed(session: Session, user: User, verdict: Verdict, remote_addr: str) -> None:
    _failed(session, user, "auth.2fa_failed", remote_addr, {"reason": verdict.value})


def _failed(session: Session, user: User, action: str, remote_addr: str, details: dict | None = None) -> None:
    audit(
        session,
        action,
        actor=user,
        account_id=user.account_id,
        obj=user,
        details=details,
        remote_addr=remote_addr,
    )
    session.flush()


def _succeeded(session: Session, user: User, remote_addr: str) -> None:
    """A right code: the user's count goes; the address's attempt is given back (only one: a
    user's own right codes must not wipe the address's count of wrong ones)."""
    lockouts.unlock_sync(session, KIND_CODE, _attempt_key(user.id))
    session.execute(
        update(Lockout)
        .where(Lockout.kind == KIND_CODE, Lockout.key == _address_key(remote_addr), Lockout.failures > 0)
        .values(
            failures=Lockout.failures - 1,
            locked_until=case((Lockout.failures - 1 < CODE_ADDRESS_LIMIT, None), else_=Lockout.locked_until),
        )
        .execution_options(synchronize_session=False)
    )


# --- the pending login (in the signed session cookie) ------------------------------------------


@dataclass(frozen=True)
class Pending:
    user_id: int
    session_version: int
    started: float  # epoch seconds
    next_url: str | None

    def as_dict(self) -> dict:
        return {"u": self.user_id, "v": self.session_version, "t": self.started, "n": self.next_url or ""}

    @classmethod
    def from_dict(cls, value: object) -> Pending | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(int(value["u"]), int(value["v"]), float(value["t"]), str(value.get("n") or "") or None)
        except (KeyError, TypeError, ValueError):
            return None

    def expired(self, now: dt.datetime) -> bool:
        age = now.timestamp() - self.started
        return age < 0 or age > PENDING_FOR.total_seconds()


def logged_in_since(session: Session, user_id: int, started: float) -> bool:
    """Whether a login of the user completed after a code step began: that step (or a copy of
    its cookie) is then void, so the "awaiting code" state is good for one login only."""
    since = dt.datetime.fromtimestamp(started, dt.UTC)
    return (
        session.scalar(
            select(PanelSession.token_hash)
            .where(PanelSession.user_id == user_id, PanelSession.created_at >= since)
            .limit(1)
        )
        is not None
    )


# --- browsers ----------------------------------------------------------------------------------


def device_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_device(session: Session, user_id: int, token: str | None) -> UserDevice | None:
    if not token or len(token) > 100:
        return None
    return session.scalar(
        select(UserDevice).where(UserDevice.user_id == user_id, UserDevice.token_hash == device_hash(token))
    )


def remembered(device: UserDevice | None, now: dt.datetime) -> bool:
    return device is not None and device.remember_until is not None and device.remember_until > now


@dataclass(frozen=True)
class Arrival:
    """What a completed login did about the browser."""

    device: UserDevice
    new_token: str | None  # set the cookie to this (a browser not known for this user)
    notify: bool  # a new browser of a user who had others: email them


def arrive(
    session: Session,
    user: User,
    token: str | None,
    *,
    remote_addr: str,
    user_agent: str,
    remember: bool,
    now: dt.datetime | None = None,
) -> Arrival:
    """Record the browser of a completed login (the caller commits)."""
    now = now or dt.datetime.now(dt.UTC)
    device = find_device(session, user.id, token)
    new_token = None
    notify = False
    if device is None:
        # asked BEFORE stale browsers are dropped: a dormant account's new browser (the likeliest
        # use of a stolen password) is no "first browser ever"
        notify = (
            session.scalar(select(UserDevice.id).where(UserDevice.user_id == user.id).limit(1)) is not None
        )
        # stale browsers go: the table grows with the users' browsers, not their logins
        session.execute(
            delete(UserDevice).where(
                UserDevice.user_id == user.id,
                UserDevice.last_seen_at < now - DEVICE_KEEP,
                or_(UserDevice.remember_until.is_(None), UserDevice.remember_until < now),
            )
        )
        new_token = secrets.token_urlsafe(DEVICE_TOKEN_BYTES)
        device = UserDevice(
            user_id=user.id,
            token_hash=device_hash(new_token),
            user_agent=(user_agent or "")[:200],
            remote_addr=(remote_addr or "")[:64],
            created_at=now,
            last_seen_at=now,
        )
        session.add(device)
        session.flush()
        if notify:  # an account's first browser is its row alone (nothing to tell apart yet)
            audit(
                session,
                "auth.new_device",
                actor=user,
                account_id=user.account_id,
                obj=device,
                details={"user_agent": (user_agent or "")[:120]},
                remote_addr=remote_addr,
            )
    else:
        device.last_seen_at = now
        device.remote_addr = (remote_addr or "")[:64]
        device.user_agent = (user_agent or "")[:200]
    if remember:
        device.remember_until = now + REMEMBER_FOR
        audit(
            session,
            "auth.device_remembered",
            actor=user,
            account_id=user.account_id,
            obj=device,
            remote_addr=remote_addr,
        )
    session.flush()
    return Arrival(device, new_token, notify)


@dataclass(frozen=True)
class DeviceList:
    """The browsers the page shows (the most recently seen first) and how many there are in all."""

    shown: Sequence[Row]  # id, token_hash, user_agent, remote_addr, last_seen_at, remember_until
    total: int


_DEVICES = (
    select(
        UserDevice.id,
        UserDevice.token_hash,
        UserDevice.user_agent,
        UserDevice.remote_addr,
        UserDevice.last_seen_at,
        UserDevice.remember_until,
        func.count().over().label("total"),
    )
    .where(UserDevice.user_id == bindparam("user_id"))
    .order_by(UserDevice.last_seen_at.desc(), UserDevice.id.desc())
    .limit(bindparam("limit"))
)


def devices(session: Session, user_id: int, limit: int = DEVICES_SHOWN) -> DeviceList:
    """A user's newest `limit` browsers (one query; a member may have logged in from many)."""
    rows = session.execute(_DEVICES, {"user_id": user_id, "limit": limit}).all()
    return DeviceList(rows, rows[0].total if rows else 0)


def forget_device(session: Session, user: User, device: UserDevice, *, remote_addr: str) -> None:
    audit(
        session,
        "user.device_forgotten",
        actor=user,
        account_id=user.account_id,
        obj=device,
        details={"user_agent": device.user_agent[:120]},
        remote_addr=remote_addr,
    )
    session.delete(device)
    session.flush()


def forget_all(session: Session, user: User, *, remote_addr: str) -> int:
    result = session.execute(delete(UserDevice).where(UserDevice.user_id == user.id))
    count = int(getattr(result, "rowcount", 0) or 0)
    audit(
        session,
        "user.devices_forgotten",
        actor=user,
        account_id=user.account_id,
        obj=user,
        details={"count": count},
        remote_addr=remote_addr,
    )
    session.flush()
    return count


def browser_name(user_agent: str) -> str:
    """A short, readable name for a User-Agent ("Chrome on Linux")."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("OPR/", "Opera"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Chromium/", "Chromium"),
                ("Safari/", "Safari"),
            )
            if token in ua
        ),
        "",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iOS"),
                ("iPad", "iPadOS"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("CrOS", "ChromeOS"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        "",
    )
    if browser and system:
        return f"{browser} / {system}"
    # else its first product token ("curl/8.5.0"): the User-Agent is the requester's free text,
    # and no sentence of theirs may reach the member's new-sign-in email
    token = _PRODUCT.match(ua)
    return browser or system or (token.group(0) if token else "?")
