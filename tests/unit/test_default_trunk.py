"""The default trunk (911, and what no carrier takes): with VOIP_PSTN_TRUNK_HOST set, calls dial
the trunk endpoint pjsip.conf renders, not the simulated PSTN (they used to go to the simulator
whatever the trunk host said); VOIP_PSTN_DIAL still overrides it."""

from __future__ import annotations

from asterisk_conf.render import TRUNK_ENDPOINT
from controller.settings import SIM_PSTN_DIAL, Settings


def test_a_trunk_host_makes_the_trunk_endpoint_the_default_dial(monkeypatch):
    monkeypatch.delenv("VOIP_PSTN_DIAL", raising=False)
    monkeypatch.setenv("VOIP_PSTN_TRUNK_HOST", "203.0.113.9")
    assert Settings().pstn_dial == f"PJSIP/{{number}}@{TRUNK_ENDPOINT}"


def test_without_a_trunk_host_the_default_is_the_simulated_pstn(monkeypatch):
    monkeypatch.delenv("VOIP_PSTN_DIAL", raising=False)
    monkeypatch.delenv("VOIP_PSTN_TRUNK_HOST", raising=False)
    assert Settings().pstn_dial == SIM_PSTN_DIAL


def test_an_explicit_dial_string_wins(monkeypatch):
    monkeypatch.setenv("VOIP_PSTN_TRUNK_HOST", "203.0.113.9")
    monkeypatch.setenv("VOIP_PSTN_DIAL", "PJSIP/{number}@other")
    assert Settings().pstn_dial == "PJSIP/{number}@other"
