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
    cv.CTX_REFUSED,
}
INCLUDE_TEST = "#include extensions_test.conf"


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
    assert set(test_instance) - set(production) == {"extensions_test.conf"}


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
    assert test - prod == {"extensions_test.conf"}
    assert INCLUDE_TEST in (tmp_path / "test" / "extensions.conf").read_text()
    assert INCLUDE_TEST not in (tmp_path / "prod" / "extensions.conf").read_text()
