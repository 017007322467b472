"""Webhooks, the pure parts: the signature, the retry schedule, and which URLs may be called.

Verifying a delivery (the receiver's side): read the raw body, the X-Voip-Timestamp header (Unix
seconds) and X-Voip-Signature ("v1=<hex>"); compute
    hex(HMAC-SHA256(secret, f"{timestamp}.".encode() + body))
and compare it in constant time (hmac.compare_digest) with the hex after "v1="; refuse a
timestamp more than 5 minutes from now (a replay). X-Voip-Delivery is the event's id (a UUID, the
same on every retry of it): a receiver that stores it can ignore a retry it already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

# seconds to wait before retry n (n = attempts made so far, 1 → the first retry); after the
# last the delivery is given up (failed_at): 1 + len(BACKOFF) attempts over about 24 hours
BACKOFF: tuple[float, ...] = (10, 30, 120, 600, 3600, 3 * 3600, 6 * 3600, 12 * 3600)

SIGNATURE_VERSION = "v1"
MAX_URL = 500


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of f"{timestamp}." + body under the webhook's secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: str, body: bytes) -> str:
    return f"{SIGNATURE_VERSION}={signature(secret, timestamp, body)}"


def verify(secret: str, timestamp: str, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """The receiver's check (documentation, and the tests')."""
    # ASCII digits only: "²".isdigit() is True but int("²") raises
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > tolerance:
        return False
    version, _, got = header.partition("=")
    return version == SIGNATURE_VERSION and hmac.compare_digest(got, signature(secret, timestamp, body))


def next_delay(attempts: int, schedule: Sequence[float] = BACKOFF) -> float | None:
    """Seconds until the next try after `attempts` failed ones; None: give up."""
    if attempts < 1 or attempts > len(schedule):
        return None
    return float(schedule[attempts - 1])


def private_address(host: str) -> bool:
    """Whether an IP address is not a public one (loopback, private, link-local, reserved...)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return not ip.is_global or ip.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64
    64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::), which is what such a connection may reach."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*", re.ASCII)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why this URL may not be a webhook's (None: it may). Only http(s), a host, no credentials;
    without allow_private, no literal private/loopback address and no localhost (the sender
    checks the addresses a name resolves to as well, at each delivery)."""
    url = (url or "").strip()
    if not url:
        return "empty"
    if len(url) > MAX_URL:
        return "too_long"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "malformed"
    if parts.scheme not in ("http", "https"):
        return "scheme"
    host = (parts.hostname or "").lower()
    if not host or any(c.isspace() for c in url):
        return "malformed"
    if parts.username or parts.password:
        return "credentials"
    if port == 0:
        return "malformed"
    # 127.1, 0x7f.0.0.1, 2130706433: numeric hosts the resolver reads as IPv4 addresses, which
    # ipaddress does not: refused (a dotted quad or a bracketed IPv6 address is the only form)
    if _NUMERIC_HOST.fullmatch(host) and not _is_ip(host):
        return "malformed"
    name = host.rstrip(".")  # "localhost." is localhost
    if not allow_private and (
        name == "localhost" or name.endswith(".localhost") or name.endswith(".local") or private_address(host)
    ):
        return "private"
    return None
