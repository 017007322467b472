"""A suspended account's devices (context `suspended`, migration 0025): their 911 is the very
same dialplan as a member's, and every other number they dial goes to the refusal that says
the line is de-activated, never to the controller's call decision or a Dial."""

from __future__ import annotations

import re

from asterisk_conf.render import render_all
from controller.rules import channel_vars as cv
from controller.settings import load


def _context(text: str, name: str) -> list[str]:
    block = text.split(f"\n[{name}]\n", 1)[1].split("\n[", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith(";")]


def _exten(lines: list[str], exten: str) -> list[str]:
    out: list[str] = []
    taking = False
    for line in lines:
        if line.startswith("exten => "):
            taking = line.startswith(f"exten => {exten},")
        if taking:
            out.append(line)
    return out


def test_a_suspended_device_calls_911_as_a_member_and_nothing_else():
    extensions = render_all(load())["extensions.conf"]
    members, suspended = _context(extensions, cv.CTX_MEMBERS), _context(extensions, cv.CTX_SUSPENDED)
    assert _exten(suspended, "911") == _exten(members, "911") != []
    others = [line for line in suspended if line not in _exten(suspended, "911")]
    assert {re.match(r"exten => ([^,]+),", line)[1] for line in others if line.startswith("exten")} == {
        "_[0-9*#+]."
    }
    assert f"Goto({cv.CTX_REFUSED},{cv.REFUSE_SUSPENDED},1)" in "\n".join(others)
    assert not any("AGI(" in line or "Dial(" in line for line in others)
    # the refusal exists, with its announcement and cause 21
    refused = "\n".join(_context(extensions, cv.CTX_REFUSED))
    assert f"exten => {cv.REFUSE_SUSPENDED},1," in refused
    assert cv.REFUSALS[cv.REFUSE_SUSPENDED] == (
        "im-sorry&your&telephone-number&is&de-activated&vm-goodbye",
        21,
    )
