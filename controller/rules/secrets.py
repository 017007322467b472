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


# the 20 most used 4-digit PINs in published PIN data sets (about a quarter of all choices);
# runs, one repeated digit and repeated pairs are refused by shape (guessable_pin)
COMMON_PINS = frozenset(
    "1234 1111 0000 1212 7777 1004 2000 4444 2222 6969 9999 3333 5555 6666 1122 1313 8888 4321 2001 1010".split()
)


def guessable_pin(pin: str) -> bool:
    """A PIN a guesser tries first (issue 13, docs/fraud.md "PINs"): one of COMMON_PINS, one
    digit repeated, a run up or down (1234..., 9876...), or a pair repeated (1212..., 4545...).
    The same answer for everyone: it says nothing about other members' PINs."""
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    return (
        pin in COMMON_PINS
        or steps in ({0}, {1}, {-1})
        or (len(pin) % 2 == 0 and pin == pin[:2] * (len(pin) // 2))
    )


def card_pin_hmac(key: str, card_id: int, pin: str) -> str:
    """A calling-card PIN as stored since issue 13: keyed by the card (virtual number id) too,
    so two members with the same PIN have different hashes (the table says nothing about
    which PINs are shared), and a PIN is only ever checked against the one card named.
    Rows set before keep pin_hmac(key, pin) until their first good login upgrades them."""
    return pin_hmac(key, f"card:{card_id}:{pin}")


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
