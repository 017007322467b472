"""The platform's own service numbers: conference dial-in, calling-card access, voicemail access,
and any other the operator defines. Pure: what a row may hold, and the rows an install starts
with (from its settings).

A member's phone reaches every enabled service number inside the platform, free (the outbound
route classifies it as DialClass.SERVICE and sends the call to the number's dialplan target,
never to the trunk). A target is a dialplan location `context,extension,priority`:

- the built-in services' numbers go to their own entry in [incoming] (asterisk_conf's
  extensions.conf renders one per number of the settings below), the very entry a caller from
  the PSTN reaches: the conference app's PIN prompt, the calling card's, voicemail's;
- an operator's own service goes to one of the admin dialplan's contexts (admin-..., the panel's
  Dialplan page), or to a number's entry in [incoming] (another way into a built-in service).

No other context may be a target: the rest of the dialplan carries out the controller's
decisions (dial-out, fwd-out, billed-out) or belongs to the tests and the simulated PSTN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.rules.channel_vars import CTX_INCOMING

CONFERENCE = "conference"
CALLING_CARD = "calling_card"
VOICEMAIL = "voicemail"
OTHER = "other"
SERVICES = (CONFERENCE, CALLING_CARD, VOICEMAIL, OTHER)

# a number as the member dials it, digits only (short codes such as 611 too)
NUMBER = re.compile(r"^[0-9]{3,15}$")
# the admin dialplan's own contexts (asterisk_conf.overrides.ADMIN_CONTEXT)
_ADMIN_CONTEXT = r"admin-[a-z0-9][a-z0-9-]{0,38}"
# as PostgreSQL's `~` reads it too (the table's CHECK constraint, migration 0013)
TARGET_PATTERN = rf"^({re.escape(CTX_INCOMING)}|{_ADMIN_CONTEXT}),[0-9A-Za-z*#+-]{{1,40}},[0-9]{{1,4}}$"
TARGET = re.compile(TARGET_PATTERN)
MAX_DESCRIPTION = 200


def valid_number(number: str) -> bool:
    return bool(NUMBER.match(number))


def valid_target(target: str) -> bool:
    return bool(TARGET.match(target))


def incoming_target(number: str) -> str:
    """The dialplan entry a PSTN caller of `number` reaches."""
    return f"{CTX_INCOMING},{number},1"


@dataclass(frozen=True)
class ServiceNumberSeed:
    number: str
    service: str
    target: str
    description: str


def from_settings(
    *,
    conference_numbers: str,
    conference_tollfree_numbers: str,
    callingcard_numbers: str,
    voicemail_numbers: str,
) -> list[ServiceNumberSeed]:
    """The service numbers an install's settings define (comma-separated lists, as
    controller.settings holds them), each to its own entry in [incoming]; a number listed twice
    is kept once (its first service)."""
    kinds = (
        (conference_numbers, CONFERENCE, "Conference dial-in: asks for the conference PIN"),
        (
            conference_tollfree_numbers,
            CONFERENCE,
            "Conference toll-free dial-in: conferences that allow 800 dial-in",
        ),
        (
            callingcard_numbers,
            CALLING_CARD,
            "Calling card access: card number and PIN, then the number to call",
        ),
        (voicemail_numbers, VOICEMAIL, "Voicemail access: mailbox number, then its password"),
    )
    seeds: dict[str, ServiceNumberSeed] = {}
    for numbers, service, description in kinds:
        for raw in numbers.split(","):
            number = raw.strip()
            if valid_number(number) and number not in seeds:
                seeds[number] = ServiceNumberSeed(number, service, incoming_target(number), description)
    return list(seeds.values())
