"""How Asterisk tells a carrier's call from a member's phone, as rendered: by source address
first (a carrier sends unauthenticated, and its caller ID may be a member's number), then by
username (members' phones, which authenticate). tests/asterisk/test_carrier_calls.py proves it
with real calls; this pins the rendered configuration those calls rely on."""

from __future__ import annotations

import dataclasses

from asterisk_conf.render import render_all
from controller.rules import channel_vars as cv
from controller.settings import load
from tests.support.sipp import CARRIER_IP


def _option(text: str, section: str, kind: str, name: str) -> list[str]:
    """The values of option `name` in the `[section]` of type `kind` of a pjsip.conf."""
    values = []
    for block in text.split("\n["):
        head, _, body = block.partition("]\n")
        lines = [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.startswith(";")]
        if head.strip("[") == section and f"type = {kind}" in lines:
            values += [ln.partition("=")[2].strip() for ln in lines if ln.partition("=")[0].strip() == name]
    return values


def test_the_source_address_identifies_before_the_from_user_in_every_render():
    trunk = dataclasses.replace(load(), pstn_trunk_host="203.0.113.5:5060")
    for settings in (load(), trunk):
        for test_dialplan in (False, True):
            pjsip = render_all(settings, test_dialplan=test_dialplan)["pjsip.conf"]
            assert _option(pjsip, "global", "global", "endpoint_identifier_order") == [
                "ip,username,anonymous"
            ]
    # the trunk is known by its host's address, the test instance's carrier by CARRIER_IP
    assert _option(render_all(trunk)["pjsip.conf"], "pstn-trunk", "identify", "match") == ["203.0.113.5"]
    test = render_all(load(), test_dialplan=True)["pjsip_test.conf"]
    assert _option(test, "voip-test-carrier", "identify", "match") == [CARRIER_IP]
    assert _option(test, "voip-test-carrier", "endpoint", "context") == [cv.CTX_FROM_PSTN]
