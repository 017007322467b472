"""Every registered device of a virtual number, as one Dial target.

`Dial(PJSIP/<number>)` reaches only one contact of the number's AOR; Asterisk's way to reach
all of them is PJSIP_DIAL_CONTACTS(<number>): `PJSIP/<number>/<contact uri>` for each
registered contact, joined with '&' (empty when none is registered). A function in an
argument of an AGI `EXEC` is not evaluated, so the route reads the value with GET FULL
VARIABLE just before it dials (contacts come and go while a plan rings) and hands Dial the
result. Contact URIs come from the devices' REGISTERs: only the ones made of plain URI
characters reach Dial, where a ',', '(' or '"' would add arguments or options."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from agi.channel import Channel

log = logging.getLogger("agi.contacts")

_NUMBER = re.compile(r"[0-9]{1,32}")
# sip: or sips:, then what a registered contact's URI holds (user, host or [IPv6], port,
# ;params); no ',', '&', '(', ')', quotes, '$', spaces, '?' (headers)
_PLAIN_URI = re.compile(r"sips?:[A-Za-z0-9._~%+=:;@\[\]-]+")


@dataclass(frozen=True)
class Devices:
    """Dial target: every registered device of the virtual number `number` (digits)."""

    number: str

    def __post_init__(self) -> None:
        if not _NUMBER.fullmatch(self.number):
            raise ValueError(f"not a virtual number: {self.number!r}")

    @property
    def aor(self) -> str:
        """The one-contact dial string (the endpoint's AOR)."""
        return f"PJSIP/{self.number}"


def contact_dial_strings(number: str, contacts: str) -> list[str]:
    """PJSIP_DIAL_CONTACTS(number)'s value as the dial strings safe to hand Dial."""
    prefix = f"PJSIP/{number}/"
    kept: list[str] = []
    for dial in contacts.split("&"):
        if not dial:
            continue
        if dial.startswith(prefix) and _PLAIN_URI.fullmatch(dial[len(prefix) :]):
            kept.append(dial)
        else:
            log.warning("contact not dialed", extra={"vnum": number, "contact": dial[:200]})
    return kept


def dial_string(device: Devices, contacts: str) -> str:
    """One Dial target for all of `device`'s contacts; with none registered (or none safe) the
    AOR itself, which Dial finds unavailable at once when nothing is registered, as it did
    before every contact was dialed."""
    return "&".join(contact_dial_strings(device.number, contacts)) or device.aor


async def expand(channel: Channel, targets: list[str | Devices]) -> list[str]:
    """`targets` with each Devices replaced by its contacts' dial strings, read in one round
    trip; other targets (Local channels) as they are."""
    devices = [t for t in targets if isinstance(t, Devices)]
    if not devices:
        return [t for t in targets if isinstance(t, str)]
    values = await channel.get_many([f"PJSIP_DIAL_CONTACTS({d.number})" for d in devices])
    found = {d: dial_string(d, v) for d, v in zip(devices, values, strict=True)}
    return [found[t] if isinstance(t, Devices) else t for t in targets]
