"""Carriers (issue 14): the operator's SIP trunks, their buy decks and the loss prefixes.

`endpoint_id` is the one place that names a carrier's Asterisk objects; the realtime views,
the routing table and the dialplan all agree with it.

The changes an operator makes (the admin pages, voipctl) go through the functions below: each
checks every value again whatever the path (a bad value never reaches the table), writes one
audit row naming the operator, and bumps `carriers.updated_at`, which the routing cache watches
to reload its table. The caller commits. Messages are English (shared with voipctl); the panel
translates the ones it shows (webpanel/admin/carriers_views.py).

The outbound password is write-only: it is stored as Asterisk's realtime auth wants it
(`auth_secret`: the password itself for auth_type userpass, md5(user:realm:password) for md5)
and nothing here ever returns it.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from controller.rules import secrets as sec
from controller.settings import load as load_settings
from db import rates as db_rates
from db.audit import audit
from db.errors import FieldErrors, ServiceError
from db.models import Carrier, CarrierRate, Cdr, LossPrefix, User


def endpoint_id(name: str) -> str:
    """The id of a carrier's PJSIP endpoint, aor, auth, identify and registration."""
    return f"carrier-{name}"


# the transports pjsip.conf.j2 defines (transport-udp, transport-tcp); tls (allowed by the table)
# needs a certificate and key in Asterisk first, which the platform does not manage yet
TRANSPORTS = ("udp", "tcp")
AUTH_TYPES = ("userpass", "md5")
CALLER_ID_MODES = ("pass", "e164", "national", "fixed")
# Asterisk's codec names (`core show codecs`) a trunk may offer; a typo would otherwise leave
# the endpoint with no codec in common and every call failing with 488
CODECS = ("ulaw", "alaw", "g722", "g729", "gsm", "opus", "ilbc", "g726", "speex", "slin")
MAX_CODECS = 10
MAX_CHANNELS = 100_000
MAX_PASSWORD = 128
# Asterisk identifies a request by its source address before it looks at the user name, so
# an inbound network is the carrier's alone: a wide one would take members' phones (and anyone
# else in it) for the carrier. At most a /24 (IPv4) or a /48 (IPv6).
WIDEST_V4, WIDEST_V6 = 24, 48

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}", re.ASCII)
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)
_AUTH_TEXT = re.compile(r"[A-Za-z0-9._@+=-]{1,80}", re.ASCII)
_TECH_PREFIX = re.compile(r"[0-9#*]{0,10}", re.ASCII)
_CALLER_ID = re.compile(r"\+?[0-9]{3,19}", re.ASCII)
_PREFIX = re.compile(r"[0-9]{1,15}", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,9}", re.ASCII)

# the integer fields: (smallest, largest), as the table's checks allow
RANGES: dict[str, tuple[int, int]] = {
    "port": (1, 65535),
    "max_channels": (0, MAX_CHANNELS),
    "qualify_seconds": (0, 3600),
    "setup_timeout": (1, 120),
    "priority": (0, 1000),
    "weight": (1, 1000),
}
LABELS = {
    "port": "Port",
    "max_channels": "Channel limit",
    "qualify_seconds": "Qualify interval",
    "setup_timeout": "Setup timeout",
    "priority": "Priority",
    "weight": "Weight",
}
# every field an operator sets (the password apart); `name` only when the carrier is created
FIELDS = (
    "name",
    "description",
    "host",
    "port",
    "transport",
    "inbound_match",
    "auth_username",
    "auth_realm",
    "auth_type",
    "register",
    "tech_prefix",
    "caller_id_mode",
    "caller_id_number",
    "codecs",
    "max_channels",
    "qualify_seconds",
    "setup_timeout",
    "priority",
    "weight",
    "enabled",
)
DEFAULTS: dict[str, Any] = {
    "description": "",
    "port": 5060,
    "transport": "udp",
    "inbound_match": "",
    "auth_username": "",
    "auth_realm": "",
    "auth_type": "userpass",
    "register": False,
    "tech_prefix": "",
    "caller_id_mode": "pass",
    "caller_id_number": "",
    "codecs": "ulaw,alaw",
    "max_channels": 0,
    "qualify_seconds": 30,
    "setup_timeout": 8,
    "priority": 0,
    "weight": 1,
    "enabled": True,
}


# --- checking what an operator typed ----------------------------------------------------------


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value).strip()


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("y", "yes", "on", "true", "1")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ServiceError(
            "A carrier name is 1 to 32 lowercase letters, digits and hyphens, starting with a letter "
            "or digit."
        )
    return name


def check_host(host: str) -> str:
    """A hostname, or an IPv4 or IPv6 address (brackets around IPv6 are taken off)."""
    raw = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in raw:
        try:
            return str(ipaddress.IPv6Address(raw))
        except ValueError:
            raise ServiceError(f"Host {host[:60]!r} is not a hostname or an IP address.") from None
    labels = raw.rstrip(".").split(".")
    if labels and all(label.isascii() and label.isdigit() for label in labels):
        try:
            return str(ipaddress.IPv4Address(raw))
        except ValueError:
            raise ServiceError(f"Host {host[:60]!r} is not a valid IPv4 address.") from None
    if not raw or len(raw) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ServiceError(f"Host {host[:60]!r} is not a hostname or an IP address.")
    return raw.rstrip(".").lower()


def check_inbound_match(value: str) -> str:
    """Comma-separated addresses or networks the carrier's calls come from, normalised."""
    found: list[str] = []
    for part in (p.strip() for p in value.replace(" ", ",").split(",")):
        if not part:
            continue
        try:
            network = ipaddress.ip_network(part, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ServiceError(
                    f"Inbound match {part[:50]!r} is not an IP address or network (such as 192.0.2.10 "
                    "or 192.0.2.0/24)."
                ) from None
            raise ServiceError(
                f"Inbound match {part[:50]!r} has bits set past its prefix length; write {loose}."
            ) from None
        widest = WIDEST_V4 if network.version == 4 else WIDEST_V6
        if network.prefixlen < widest:
            raise ServiceError(
                f"Inbound match {part[:50]!r} is too wide (shorter than /{widest}): anyone in it "
                "could call in as this carrier."
            )
        _check_not_reserved(network, f"Inbound match {part[:50]!r}")
        shown = str(network.network_address) if network.num_addresses == 1 else str(network)
        if shown in found:
            raise ServiceError(f"Inbound match {shown} is listed twice.")
        found.append(shown)
    joined = ",".join(found)
    if len(joined) > 255:
        raise ServiceError("The inbound match list is longer than 255 characters.")
    return joined


def _reserved_addresses() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Addresses no carrier may be identified by: the loopback and unspecified addresses and
    Asterisk's own (members' phones and the platform's own requests come from there in a
    one-host setup). A hostname setting is not resolved here."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("0.0.0.0"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("::"),
    ]
    try:
        found.append(ipaddress.ip_address(load_settings().asterisk_host.strip("[]")))
    except ValueError:
        pass
    return found


def _check_not_reserved(network: ipaddress.IPv4Network | ipaddress.IPv6Network, what: str) -> None:
    for address in _reserved_addresses():
        if address.version == network.version and address in network:
            raise ServiceError(
                f"{what} contains {address}, an address of this platform or of loopback: "
                "members' phones there would be taken for the carrier."
            )


def check_codecs(value: str) -> str:
    names = [p.strip().lower() for p in value.replace(" ", ",").split(",") if p.strip()]
    if not names:
        raise ServiceError("Choose at least one codec.")
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise ServiceError(f"Unknown codec {unknown[0][:20]!r}: use Asterisk's names ({', '.join(CODECS)}).")
    if len(set(names)) != len(names):
        raise ServiceError("A codec is listed twice.")
    if len(names) > MAX_CODECS:
        raise ServiceError(f"At most {MAX_CODECS} codecs.")
    return ",".join(names)


def _integer(data: Mapping[str, Any], name: str) -> int:
    raw = _text(data, name)
    smallest, largest = RANGES[name]
    if raw == "":
        return int(DEFAULTS[name])
    if not _DIGITS.fullmatch(raw) or not smallest <= int(raw) <= largest:
        raise ServiceError(f"{LABELS[name]} is a whole number from {smallest} to {largest}.")
    return int(raw)


def check_password(password: str) -> str:
    if len(password) > MAX_PASSWORD:
        raise ServiceError(f"A carrier password has at most {MAX_PASSWORD} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        raise ServiceError("A carrier password may not contain control characters.")
    return password


def parse_values(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Every field of a carrier from what an operator typed (strings, or bools for the
    checkboxes), checked and normalised; FieldErrors names every bad field at once (issue 16),
    keyed by field name. An absent field takes its default (the table's)."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    def checked(name: str, check: Callable[[], Any], default: Any = "") -> Any:
        try:
            return check()
        except ServiceError as exc:
            fail(name, str(exc))
            return default

    if creating:
        values["name"] = checked("name", lambda: check_name(_text(data, "name")))
    description = _text(data, "description")
    if len(description) > 120 or any(ord(ch) < 32 or ord(ch) == 127 for ch in description):
        fail("description", "A description has at most 120 characters and no control characters.")
    values["description"] = description
    host = _text(data, "host")
    if not host:
        fail("host", "Enter the carrier's host (a hostname or an IP address).")
        values["host"] = ""
    else:
        values["host"] = checked("host", lambda: check_host(host))
    values["port"] = checked("port", lambda: _integer(data, "port"), 0)
    transport = _text(data, "transport") or DEFAULTS["transport"]
    if transport == "tls":
        fail("transport", "TLS is not offered yet: it needs a certificate in Asterisk. Use udp or tcp.")
    elif transport not in TRANSPORTS:
        fail("transport", f"Transport {transport[:10]!r} is not available (use {', '.join(TRANSPORTS)}).")
    values["transport"] = transport
    values["inbound_match"] = checked(
        "inbound_match", lambda: check_inbound_match(_text(data, "inbound_match"))
    )
    if not values["inbound_match"] and values["host"]:
        # with no inbound match, Asterisk identifies the carrier by its host
        try:
            host_address = ipaddress.ip_address(values["host"])
        except ValueError:
            pass
        else:
            checked(
                "host",
                lambda: _check_not_reserved(ipaddress.ip_network(host_address), f"Host {values['host']}"),
            )
    for name, what in (("auth_username", "username"), ("auth_realm", "realm")):
        value = _text(data, name)
        if value and not _AUTH_TEXT.fullmatch(value):
            fail(name, f"The authentication {what} is up to 80 letters, digits and . _ @ + = - (no spaces).")
        values[name] = value
    auth_type = _text(data, "auth_type") or DEFAULTS["auth_type"]
    if auth_type not in AUTH_TYPES:
        fail("auth_type", f"Authentication type {auth_type[:10]!r} is not userpass or md5.")
    values["auth_type"] = auth_type
    if auth_type == "md5" and values["auth_username"] and not values["auth_realm"]:
        fail("auth_realm", "An md5 credential needs the carrier's realm (md5 of user:realm:password).")
    values["register"] = _bool(data.get("register", False))
    if values["register"] and not values["auth_username"]:
        fail("auth_username", "An outbound registration needs the authentication username.")
    tech_prefix = _text(data, "tech_prefix")
    if not _TECH_PREFIX.fullmatch(tech_prefix):
        fail("tech_prefix", "A technical prefix is up to 10 digits, # or *.")
    values["tech_prefix"] = tech_prefix
    mode = _text(data, "caller_id_mode") or DEFAULTS["caller_id_mode"]
    if mode not in CALLER_ID_MODES:
        fail("caller_id_mode", f"Caller ID mode {mode[:10]!r} is not one of {', '.join(CALLER_ID_MODES)}.")
    values["caller_id_mode"] = mode
    number = _text(data, "caller_id_number")
    if number and not _CALLER_ID.fullmatch(number):
        fail("caller_id_number", "A caller ID number is 3 to 19 digits, with an optional leading +.")
    elif mode == "fixed" and not number:
        fail("caller_id_number", "The fixed caller ID mode needs the caller ID number to send.")
    values["caller_id_number"] = number
    values["codecs"] = checked("codecs", lambda: check_codecs(_text(data, "codecs") or DEFAULTS["codecs"]))
    for name in ("max_channels", "qualify_seconds", "setup_timeout", "priority", "weight"):
        values[name] = checked(name, functools.partial(_integer, data, name), 0)
    values["enabled"] = _bool(data.get("enabled", True))
    if errors:
        raise FieldErrors(errors)
    return values


def _secret(values: Mapping[str, Any], password: str) -> str:
    if values["auth_type"] == "md5":
        return sec.sip_md5_cred(values["auth_username"], values["auth_realm"], password)
    return password


def _touch(carrier: Carrier) -> None:
    """The routing cache reloads its table when the newest updated_at changes."""
    carrier.updated_at = dt.datetime.now(dt.UTC)


# --- carriers ------------------------------------------------------------------------------


def listing(session: Session) -> list[Carrier]:
    return list(session.scalars(select(Carrier).order_by(Carrier.name)))


def find(session: Session, name: str) -> Carrier | None:
    return session.scalar(select(Carrier).where(Carrier.name == name))


def create(
    session: Session,
    admin: User | None,
    data: Mapping[str, Any],
    *,
    password: str = "",
    remote_addr: str = "",
) -> Carrier:
    values = parse_values(data, creating=True)
    password = check_password(password)
    if values["auth_username"] and not password:
        raise ServiceError("Enter the carrier's password for its authentication username.")
    if password and not values["auth_username"]:
        raise ServiceError("A password needs the authentication username it goes with.")
    if find(session, values["name"]) is not None:
        raise ServiceError(f"Carrier {values['name']} already exists.")
    carrier = Carrier(**values, auth_secret=_secret(values, password) if password else "")
    session.add(carrier)
    session.flush()
    _touch(carrier)
    session.flush()
    audit(
        session,
        "carrier.create",
        actor=admin,
        obj=carrier,
        details={**_shown(values), "password_set": bool(password)},
        remote_addr=remote_addr,
    )
    return carrier


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the audit log keeps them (the password never reaches this)."""
    return {k: v for k, v in values.items() if k != "auth_secret"}


def update(
    session: Session,
    admin: User | None,
    carrier: Carrier,
    data: Mapping[str, Any],
    *,
    new_password: str = "",
    remote_addr: str = "",
) -> dict[str, Any]:
    """Change the carrier's fields; an empty `new_password` keeps the stored credential. The
    changes (password shown only as set) are returned and audited; none: nothing happens."""
    values = parse_values(data, creating=False)
    new_password = check_password(new_password)
    if new_password and not values["auth_username"]:
        raise ServiceError("A password needs the authentication username it goes with.")
    credential_moved = any(
        values[k] != getattr(carrier, k) for k in ("auth_username", "auth_realm", "auth_type")
    )
    if values["auth_username"] and not new_password:
        if not carrier.auth_secret:
            raise ServiceError("Enter the carrier's password for its authentication username.")
        if credential_moved and (values["auth_type"] == "md5" or carrier.auth_type == "md5"):
            # the stored md5 was made of the old user and realm: it cannot be carried over
            raise ServiceError(
                "Changing the username, realm or authentication type of an md5 credential needs the "
                "password again."
            )
    changes = {k: v for k, v in values.items() if getattr(carrier, k) != v}
    for name, value in changes.items():
        setattr(carrier, name, value)
    if not values["auth_username"] and carrier.auth_secret:
        carrier.auth_secret = ""
        changes["password_cleared"] = True
    elif new_password:
        carrier.auth_secret = _secret(values, new_password)
        changes["password_set"] = True
    if not changes:
        return {}
    _touch(carrier)
    session.flush()
    audit(
        session,
        "carrier.update",
        actor=admin,
        obj=carrier,
        details={"name": carrier.name, **changes},
        remote_addr=remote_addr,
    )
    return changes


def set_enabled(
    session: Session, admin: User | None, carrier: Carrier, enabled: bool, *, remote_addr: str = ""
) -> bool:
    """Enable or disable; False when it already was."""
    if carrier.enabled == enabled:
        return False
    carrier.enabled = enabled
    _touch(carrier)
    session.flush()
    audit(
        session,
        "carrier.enable" if enabled else "carrier.disable",
        actor=admin,
        obj=carrier,
        details={"name": carrier.name},
        remote_addr=remote_addr,
    )
    return True


def delete_carrier(session: Session, admin: User | None, carrier: Carrier, *, remote_addr: str = "") -> None:
    """Its buy deck goes with it; its past charges keep their buy cost and lose the link."""
    name, carrier_id = carrier.name, carrier.id
    size = deck_size(session, carrier_id)
    session.delete(carrier)  # the routing cache sees the carriers' count change
    session.flush()
    audit(
        session,
        "carrier.delete",
        actor=admin,
        object_type="carriers",
        object_id=carrier_id,
        details={"name": name, "deck_prefixes": size},
        remote_addr=remote_addr,
    )


# --- buy decks -----------------------------------------------------------------------------


def deck_size(session: Session, carrier_id: int) -> int:
    return session.scalar(select(func.count()).where(CarrierRate.carrier_id == carrier_id)) or 0


def deck_sizes(session: Session) -> dict[int, int]:
    rows = session.execute(select(CarrierRate.carrier_id, func.count()).group_by(CarrierRate.carrier_id))
    return {carrier_id: count for carrier_id, count in rows}


def deck_sample(session: Session, carrier_id: int, limit: int = 10) -> list[CarrierRate]:
    return list(
        session.scalars(
            select(CarrierRate)
            .where(CarrierRate.carrier_id == carrier_id)
            .order_by(CarrierRate.prefix)
            .limit(limit)
        )
    )


def import_buy_deck(
    session: Session,
    admin: User | None,
    carrier: Carrier,
    deck: str | TextIO,
    *,
    remote_addr: str = "",
) -> int:
    """Replace the carrier's whole buy deck with the CSV `deck` (the sell deck's format and
    checks: db.rates.parse_deck). All or nothing: a bad line raises before anything is
    written, and the old rows go in the same transaction as the new ones come in, so the
    routing table never sees a half-loaded deck. The number of prefixes loaded."""
    rows = db_rates.parse_deck(io.StringIO(deck) if isinstance(deck, str) else deck)
    # the carrier's row locked: two imports at once would otherwise both delete, then both COPY
    session.execute(select(Carrier.id).where(Carrier.id == carrier.id).with_for_update())
    replaced = deck_size(session, carrier.id)
    session.execute(delete(CarrierRate).where(CarrierRate.carrier_id == carrier.id))
    session.flush()
    raw = session.connection().connection.driver_connection
    assert raw is not None  # the psycopg connection the Session has checked out
    with raw.cursor() as cur:
        with cur.copy(
            "COPY carrier_rates (carrier_id, prefix, destination, country, rate_per_minute,"
            " connect_fee, min_seconds, increment_seconds) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((carrier.id, *row))
    _touch(carrier)
    session.flush()
    audit(
        session,
        "carrier.import_rates",
        actor=admin,
        obj=carrier,
        details={"name": carrier.name, "prefixes": len(rows), "replaced": replaced},
        remote_addr=remote_addr,
    )
    return len(rows)


# --- loss prefixes -------------------------------------------------------------------------


def loss_prefixes(session: Session) -> list[LossPrefix]:
    return list(session.scalars(select(LossPrefix).order_by(LossPrefix.prefix)))


def add_loss_prefix(
    session: Session, admin: User | None, prefix: str, note: str = "", *, remote_addr: str = ""
) -> LossPrefix:
    prefix, note = (prefix or "").strip(), (note or "").strip()
    if not _PREFIX.fullmatch(prefix):
        raise ServiceError("A loss prefix is 1 to 15 digits, country code first.")
    if len(note) > 120 or any(ord(ch) < 32 or ord(ch) == 127 for ch in note):
        raise ServiceError("A note has at most 120 characters and no control characters.")
    if session.get(LossPrefix, prefix) is not None:
        raise ServiceError(f"Loss prefix {prefix} already exists.")
    row = LossPrefix(prefix=prefix, note=note)
    session.add(row)
    session.flush()
    audit(
        session,
        "carrier.loss_prefix_add",
        actor=admin,
        object_type="loss_prefixes",
        object_id=prefix,
        details={"note": note},
        remote_addr=remote_addr,
    )
    return row


def remove_loss_prefix(session: Session, admin: User | None, prefix: str, *, remote_addr: str = "") -> None:
    row = session.get(LossPrefix, (prefix or "").strip()[:15])
    if row is None:
        raise ServiceError(f"There is no loss prefix {prefix[:15]}.")
    session.delete(row)
    session.flush()
    audit(
        session,
        "carrier.loss_prefix_remove",
        actor=admin,
        object_type="loss_prefixes",
        object_id=row.prefix,
        remote_addr=remote_addr,
    )


# --- the last hour's traffic ---------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    attempts: int
    answered: int
    acd_seconds: Decimal | None  # mean billsec of the answered attempts

    @property
    def asr(self) -> Decimal | None:
        """Answered attempts / attempts, in percent."""
        if not self.attempts:
            return None
        return (Decimal(100) * self.answered / self.attempts).quantize(Decimal("0.1"))


def traffic(session: Session, since: dt.datetime) -> dict[str, Traffic]:
    """Per carrier name: the attempts since `since` (each CDR naming the carrier is one
    attempt, the dialplan setting CDR(carrier) before each Dial), how many were answered and
    their mean billed seconds."""
    answered = Cdr.disposition == "ANSWERED"
    rows = session.execute(
        select(
            Cdr.carrier,
            func.count(),
            func.count().filter(answered),
            func.avg(Cdr.billsec).filter(answered),
        )
        .where(Cdr.carrier.is_not(None), Cdr.start >= since)
        .group_by(Cdr.carrier)
    )
    return {
        name: Traffic(attempts, ok, None if acd is None else Decimal(acd).quantize(Decimal("0.1")))
        for name, attempts, ok, acd in rows
    }
