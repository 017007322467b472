"""Every registered device of a number as one Dial target (agi/contacts.py): the contacts
Asterisk's PJSIP_DIAL_CONTACTS lists become '&'-joined dial strings, a number with none keeps
its one-contact dial string (unavailable at once, as before), and a contact URI a device
registered with Dial's separators or option syntax never reaches Dial."""

from __future__ import annotations

import asyncio

import pytest

from agi.channel import Channel
from agi.contacts import Devices, contact_dial_strings, dial_string, expand

DESK = "PJSIP/17005550101/sip:17005550101@192.0.2.10:5060"
SOFT = "PJSIP/17005550101/sip:17005550101@[2001:db8::7]:5062;transport=tcp;ob"


def test_all_contacts_are_kept_in_order():
    assert contact_dial_strings("17005550101", f"{DESK}&{SOFT}") == [DESK, SOFT]
    assert dial_string(Devices("17005550101"), f"{DESK}&{SOFT}") == f"{DESK}&{SOFT}"


def test_no_contact_dials_the_aor_as_before():
    assert dial_string(Devices("17005550101"), "") == "PJSIP/17005550101"


@pytest.mark.parametrize(
    "hostile",
    [
        "PJSIP/17005550101/sip:x,,U(evil)@192.0.2.66",  # a ',' would add Dial arguments
        "PJSIP/17005550101/sip:x@192.0.2.66,30,G(evil)",
        'PJSIP/17005550101/sip:"x"@192.0.2.66',
        "PJSIP/17005550101/sip:${SHELL(id)}@192.0.2.66",
        "PJSIP/17005550101/sip:x@192.0.2.66?Alert-Info=evil",
        "PJSIP/17005550101/tel:+15551234567",
        "PJSIP/17005550199/sip:someone.else@192.0.2.66",  # not this number's contact
        "Local/12125550100@fwd-out",
    ],
)
def test_a_contact_that_is_not_a_plain_uri_of_this_number_is_not_dialed(hostile):
    assert contact_dial_strings("17005550101", f"{hostile}&{DESK}") == [DESK]
    assert dial_string(Devices("17005550101"), hostile) == "PJSIP/17005550101"


@pytest.mark.parametrize("number", ["", "1700;x", "PJSIP/1700", "1700)"])
def test_devices_are_only_of_a_virtual_number(number):
    with pytest.raises(ValueError):
        Devices(number)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, data: bytes) -> None:
        self.lines.append(data.decode().rstrip("\n"))

    async def drain(self) -> None:
        pass


async def test_expand_reads_every_number_in_one_round_trip_and_keeps_other_targets():
    reader = asyncio.StreamReader()
    reader.feed_data(f"200 result=1 ({DESK}&{SOFT}^~^)\n".encode())
    writer = _Writer()
    channel = Channel(reader, writer, {})  # type: ignore[arg-type]
    local = "Local/13125550111@fwd-out/n"
    targets = await expand(channel, [Devices("17005550101"), local, Devices("17005550102")])
    assert writer.lines == [
        'GET FULL VARIABLE "${PJSIP_DIAL_CONTACTS(17005550101)}^~^${PJSIP_DIAL_CONTACTS(17005550102)}"'
    ]
    assert targets == [f"{DESK}&{SOFT}", local, "PJSIP/17005550102"]


async def test_expand_without_devices_asks_nothing():
    writer = _Writer()
    channel = Channel(asyncio.StreamReader(), writer, {})  # type: ignore[arg-type]
    assert await expand(channel, ["Local/13125550111@fwd-out/n"]) == ["Local/13125550111@fwd-out/n"]
    assert writer.lines == []
