"""The production dialplan carries only production contexts: the test suite's contexts are rendered
for the test instance only (asterisk_conf/templates/test/), and the simulated PSTN only while the
PSTN dial string goes to it."""

from __future__ import annotations

import dataclasses

import pytest

from asterisk_conf import overrides
from asterisk_conf.__main__ import main as render_cli
from asterisk_conf.render import render_all
from controller.rules import channel_vars as cv
from controller.settings import Settings, load

TEST_CONTEXTS = {cv.CTX_TEST, cv.CTX_TEST_FAX_SENDER}
PRODUCTION_CONTEXTS = {
    "general",
    "globals",
    cv.CTX_MEMBERS,
    cv.CTX_FROM_PSTN,
    cv.CTX_INCOMING,
    cv.CTX_FWD_OUT,
    cv.CTX_DIAL,
    cv.CTX_BILLED_OUT,
    cv.CTX_CARRIER_OUT,  # issue 14: the carrier loop
    cv.CTX_SUSPENDED,  # issue 15: a suspended account's devices (911 only)
    cv.CTX_FWD_CONFIRM,  # issue 16: find-me confirmation (Dial's U option)
    cv.CTX_FWD_LEG,  # issue 16: a simultaneous list's leg, asked on a Local channel of its own
    cv.CTX_REFUSED,
}
INCLUDE_TEST = "#include extensions_test.conf"
INCLUDE_TEST_PJSIP = "#include pjsip_test.conf"
# the test instance's own files: its dialplan, and its carrier with the PSTN's fax machines
TEST_FILES = {"extensions_test.conf", "pjsip_test.conf"}


def _contexts(text: str) -> set[str]:
    return set(overrides.parse(text, strict=False).contexts)


@pytest.fixture(scope="module")
def defaults() -> Settings:
    return load()


@pytest.fixture(scope="module")
def production(defaults) -> dict[str, str]:
    return render_all(defaults)


@pytest.fixture(scope="module")
def test_instance(defaults) -> dict[str, str]:
    return render_all(defaults, test_dialplan=True)


def test_the_production_render_has_no_test_context_in_any_file(production):
    assert "extensions_test.conf" not in production
    assert _contexts(production["extensions.conf"]) == PRODUCTION_CONTEXTS | {cv.CTX_SIM_PSTN}
    assert INCLUDE_TEST not in production["extensions.conf"]
    for name, text in production.items():
        for context in TEST_CONTEXTS:
            assert f"[{context}]" not in text and f"@{context}" not in text, (name, context)


def test_the_test_render_adds_the_test_contexts_in_their_own_included_file(production, test_instance):
    assert _contexts(test_instance["extensions_test.conf"]) == TEST_CONTEXTS
    extensions = test_instance["extensions.conf"]
    assert INCLUDE_TEST in extensions
    # included before the admin's overrides, and the rest of the dialplan is production's
    assert extensions.index(INCLUDE_TEST) < extensions.index("#tryinclude extensions_admin.conf")
    assert _contexts(extensions) == _contexts(production["extensions.conf"])
    assert set(test_instance) - set(production) == TEST_FILES


def test_the_test_contexts_keep_their_extensions(test_instance):
    parsed = overrides.parse(test_instance["extensions_test.conf"], strict=False).contexts
    assert set(parsed[cv.CTX_TEST]) == {
        "agi",
        "stasis",
        "dtmfcall",
        "vmcaller",
        "vmkeys",
        "vmgreet",
        "_direct.",
        "wait",
        "confcall",
        "fax-receive",
    }
    assert set(parsed[cv.CTX_TEST_FAX_SENDER]) == {"fax-send", "h"}


def test_a_deployment_dialing_a_real_trunk_carries_no_simulated_pstn(defaults):
    trunk = dataclasses.replace(
        defaults, pstn_trunk_host="203.0.113.5", pstn_dial="PJSIP/{number}@pstn-trunk"
    )
    extensions = render_all(trunk)["extensions.conf"]
    assert _contexts(extensions) == PRODUCTION_CONTEXTS
    assert "Dial(PJSIP/911@pstn-trunk,120)" in extensions  # the 911 fallback dials the trunk
    # the test instance keeps its simulator (the benchmark baseline dials it directly)
    assert cv.CTX_SIM_PSTN in _contexts(render_all(trunk, test_dialplan=True)["extensions.conf"])


@pytest.mark.parametrize(
    "dial, simulated",
    [
        ("Local/{number}@sim-pstn/n", True),
        ("Local/{number}@sim-pstn", True),
        ("Local/{number}@sim-pstn-2/n", False),
        ("PJSIP/{number}@pstn-trunk", False),
    ],
)
def test_the_simulated_pstn_is_rendered_while_the_pstn_dial_string_goes_to_it(defaults, dial, simulated):
    extensions = render_all(dataclasses.replace(defaults, pstn_dial=dial))["extensions.conf"]
    assert (cv.CTX_SIM_PSTN in _contexts(extensions)) is simulated


def test_the_render_command_writes_the_test_file_only_when_asked(tmp_path, monkeypatch):
    # no admin overrides from a database here: this tier has none
    monkeypatch.setattr("asterisk_conf.render.load_applied", lambda settings: None)
    assert render_cli(["render", "--out", str(tmp_path / "prod")]) == 0
    assert render_cli(["render", "--out", str(tmp_path / "test"), "--test-dialplan"]) == 0
    prod = {p.name for p in (tmp_path / "prod").iterdir()}
    test = {p.name for p in (tmp_path / "test").iterdir()}
    assert test - prod == TEST_FILES
    assert INCLUDE_TEST in (tmp_path / "test" / "extensions.conf").read_text()
    assert INCLUDE_TEST not in (tmp_path / "prod" / "extensions.conf").read_text()


def _section(text: str, name: str, kind: str) -> list[str]:
    """The option lines of the `[name]` section of type `kind` in a pjsip.conf."""
    for block in text.split("\n["):
        head, _, body = block.partition("]\n")
        lines = [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.startswith(";")]
        if head.strip("[") == name and f"type = {kind}" in lines:
            return lines
    raise AssertionError(f"no [{name}] of type {kind}")


def test_the_test_carrier_is_only_in_the_test_instance_and_configured_like_the_trunk(defaults):
    trunk = dataclasses.replace(
        defaults, pstn_trunk_host="203.0.113.5", pstn_dial="PJSIP/{number}@pstn-trunk"
    )
    for settings in (defaults, trunk):
        pjsip = render_all(settings)["pjsip.conf"]
        assert INCLUDE_TEST_PJSIP not in pjsip and "voip-test-" not in pjsip and "127.0.0.2" not in pjsip
    test = render_all(trunk, test_dialplan=True)
    assert test["pjsip.conf"].rstrip().endswith(INCLUDE_TEST_PJSIP)
    # the carrier the fax tests call in from takes T.38 or audio exactly as the trunk does
    carrier = _section(test["pjsip_test.conf"], "voip-test-carrier", "endpoint")
    production = _section(test["pjsip.conf"], "pstn-trunk", "endpoint")
    assert carrier == [ln.replace("pstn-trunk", "voip-test-carrier") for ln in production]
    assert {"t38_udptl = yes", "t38_udptl_ec = redundancy"} <= set(production)
    # the fax machines: one without T.38 (audio), one with it
    assert "t38_udptl = yes" not in _section(test["pjsip_test.conf"], "voip-test-fax-audio", "endpoint")
    assert "t38_udptl = yes" in _section(test["pjsip_test.conf"], "voip-test-fax-t38", "endpoint")
