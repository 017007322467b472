"""Hashing of every secret we keep (DESIGN.md section 5). Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """argon2id, for panel and voicemail passwords."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def sip_md5_cred(username: str, realm: str, password: str) -> str:
    """PJSIP `md5_cred`: HA1 = md5(username:realm:password). The plain password is never stored."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def pin_hmac(key: str, pin: str) -> str:
    """Calling-card PINs (and voucher codes): a keyed hash, so a PIN can be looked up but
    never read back, and a stolen table cannot be brute-forced without the server key."""
    return hmac.new(key.encode(), pin.encode(), hashlib.sha256).hexdigest()


def voucher_hmac(key: str, code: str) -> str:
    """A voucher code's pin_hmac, the code in one spelling whichever way it was printed or
    typed (XXXX-XXXX-XXXX-XXXX, any case, spaces or dashes)."""
    return pin_hmac(key, "".join(c for c in code if not c.isspace() and c != "-").upper())


def generate_sip_password(length: int = 20) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.islower() for c in pw) and any(c.isupper() for c in pw):
            return pw
