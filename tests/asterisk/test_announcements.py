"""Each refusal and state is announced with the prompt that says what happened, in the caller's
or member's language, on the real Asterisk with Debian's core sound sets (en, es, fr):

- a call refused for credit says the caller has none ("You have zero minutes"), not "all
  circuits are busy";
- the calling card says "1 dollar", "2 dollars", "less than one dollar" (controller.rules.prompts);
- a calling-card caller locked out after repeated wrong PINs hears "Login incorrect. Please try
  your call again later.", not only "sorry, goodbye";
- a busy member's callers hear the busy default greeting ("... is on the phone"), an unanswered
  member's the unavailable one;
- every file these prompts name exists in each language's sound set (none falls back to English).

Evidence: Asterisk's console log names each file it plays and its language ("Playing
'vm-youhave.gsm' (language 'es')"); the voicemail app's ARI PlaybackStarted events."""

from __future__ import annotations

import asyncio

import pytest

from controller.rules import channel_vars as cv
from controller.rules import prompts
from tests.asterisk.test_callingcard import card, dial_card, member_with_pin
from tests.asterisk.test_prompt_language import AsteriskLog, in_chroot, set_language
from tests.support.events import AmiRecorder, StasisRecorder
from tests.support.members import add_did, make_member, set_forwarding
from tests.support.realparts import unique_number
from tests.support.sipp import Phone, place_call
from tests.support.wait import until
from tests.voicemail.helpers import vm_member

pytestmark = pytest.mark.asyncio(loop_scope="session")

LANGUAGES = ("en", "es", "fr")
DOMESTIC = "12125550100"


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


@pytest.fixture()
def ari_events(controller):
    seen: list[dict] = []

    async def record(event):
        seen.append(event)

    controller.ari.on("*", record)
    yield seen
    controller.ari.off("*", record)


def refusal_sounds(reason: str, language: str) -> list[str]:
    own = cv.REFUSALS_BY_LANGUAGE.get(reason, {}).get(language)
    return (own or cv.REFUSALS[reason][0]).split("&")


def names(played: list[tuple[str, str]]) -> list[str]:
    return [f.rsplit(".", 1)[0] for f, _ in played]


# ----- no credit
@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_call_refused_for_credit_says_the_caller_has_none_in_their_language(
    controller, asterisk, factory, settings, events, tmp_path, need_sipp, language
):
    m = make_member(factory, settings, allow_us_canada_ld=True)  # no credit lot
    set_language(factory, m.account_id, language)
    log = AsteriskLog(asterisk)
    # the member's own phone dials (SIPp with the number's credentials)
    call = asyncio.create_task(
        asyncio.to_thread(
            place_call,
            m.number,
            m.sip_password,
            DOMESTIC,
            host=settings.asterisk_host,
            port=settings.sip_port,
            cwd=tmp_path,
            timeout=30,
        )
    )
    try:
        await events.wait_for(15, UserEvent="VoipRefused", Reason="no_credit")
        wanted = refusal_sounds("no_credit", language)
        played = await until(
            lambda: (p := log.played(f"PJSIP/{m.number}-")) and names(p)[-1:] == wanted[-1:] and p,
            timeout=20,
            what="the no-credit announcement in Asterisk's log",
        )
    finally:
        await call
    assert names(played) == wanted, played
    assert {lang for _, lang in played} == {language}, played
    assert "all-circuits-busy-now" not in names(played)
    assert "vm-youhave" in wanted and "digits/0" in wanted  # "you have zero minutes"


# ----- the calling card's balance
@pytest.mark.parametrize(
    "credit, language, expected",
    [
        ("1.00", "en", ["vm-youhave", "digits/1", "letters/dollar"]),
        ("2.00", "en", ["vm-youhave", "digits/2", "digits/dollars"]),
        ("0.05", "en", ["vm-youhave", "queue-less-than", "digits/1", "letters/dollar"]),
        ("1.00", "es", ["vm-youhave", "digits/1M", "letters/dollar"]),  # "un dólar"
        (None, "fr", ["vm-youhave", "digits/0", "letters/dollar"]),  # no credit: "zéro dollar"
    ],
)
async def test_the_calling_card_says_the_amount_with_the_right_words(
    controller, asterisk, factory, settings, events, credit, language, expected
):
    pin = unique_number("7")  # 8 digits, no other member's
    m = member_with_pin(factory, settings, pin, credit=credit)
    set_language(factory, m.account_id, language)
    log = AsteriskLog(asterisk)
    access = settings.callingcard_numbers.split(",")[0]
    await dial_card(controller, settings, card(m.number, pin), unique_number("1415"), hold=14)

    def balance():
        got = names(log.played(f"Local/{access}@{cv.CTX_FROM_PSTN}"))
        if "vm-enter-num-to-call" not in got or "agent-pass" not in got:
            return None
        return log.played(f"Local/{access}@{cv.CTX_FROM_PSTN}")

    played = await until(balance, timeout=30, what="the balance and the next prompt in Asterisk's log")
    files = names(played)
    said = played[files.index("agent-pass") + 1 : files.index("vm-enter-num-to-call")]
    assert names(said) == expected, played
    assert {lang for _, lang in said} == {language}, said


# ----- the calling card's lockout
async def test_a_locked_out_calling_card_caller_hears_to_try_again_later(
    controller, asterisk, factory, settings, events
):
    m = member_with_pin(factory, settings, "55871")
    wanted = refusal_sounds("pin_locked", "en")
    assert "please-try-call-later" in wanted
    # 5 failures on the card (the configured maximum) across two calls, each from its own
    # caller ID (the lockout is the card's): the second call ends locked
    await dial_card(controller, settings, card(m.number, "11111", "22222", "33333"), unique_number("1415"))
    await events.wait_for(60, UserEvent="VoipRefused", Reason="forbidden")
    events.events.clear()

    async def refused_with_the_lockout(dtmf: str) -> list[str]:
        log = AsteriskLog(asterisk)
        await dial_card(controller, settings, dtmf, unique_number("1415"))
        refused = await events.wait_for(60, UserEvent="VoipRefused", Reason="pin_locked")
        assert not events.matching(UserEvent="SimPstn")
        events.events.clear()
        channel = refused["Channel"]  # this call's leg (the header comes twice: a list)
        channel = channel[0] if isinstance(channel, list) else channel
        return await until(
            lambda: (p := names(log.played(channel)))[-len(wanted) :] == wanted and p,
            timeout=20,
            what="the lockout announcement in Asterisk's log",
        )

    locking = await refused_with_the_lockout(card(m.number, "11111", "22222"))  # the 5th failure
    locked = await refused_with_the_lockout(card(m.number, "55871"))  # the right PIN, on the locked card
    for played in (locking, locked):
        assert "vm-sorry" not in played and "goodbye" not in played, played
    assert "agent-pass" not in locked, locked  # refused before the PIN is even asked


# ----- the busy greeting
@pytest.fixture()
def stasis(controller):
    rec = StasisRecorder(controller.ari, leave=controller.stasis.apps)  # voicemail runs for real
    yield rec
    rec.close()


async def call_did(controller, did: str, hold: int = 20) -> None:
    """A PSTN caller that stays `hold` s once answered (the greeting names the number digit by digit)."""
    await controller.ami.originate(
        f"Local/{did}@from-pstn",
        application="Wait",
        data=str(hold),
        caller_id="PSTN Caller <13125550000>",
        timeout_ms=60000,
    )


def greeting_played(ari_events, channel_ids: set[str]) -> list[str]:
    return [
        e["playback"]["media_uri"]
        for e in ari_events
        if e.get("type") == "PlaybackStarted"
        and e["playback"]["target_uri"].removeprefix("channel:") in channel_ids
    ]


@pytest.mark.parametrize(
    "device, args, says",
    [
        ("busy", [cv.VM_ARG_BUSY], "sound:vm-isonphone"),  # "... is on the phone"
        ("noanswer", [], "sound:vm-isunavail"),  # "... is unavailable"
    ],
)
async def test_the_default_greeting_says_the_member_is_busy_or_unavailable(
    controller, factory, settings, tmp_path, stasis, ari_events, need_sipp, device, args, says
):
    m = make_member(factory, settings)  # voicemail on, no greeting of their own
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=3)
    phone = Phone(
        device, m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        await call_did(controller, did)
        start = await stasis.wait_for_args([cv.STASIS_VOICEMAIL, m.number, *args], timeout=25)
        channel = {start["channel"]["id"]}
        played = await until(
            lambda: len(g := greeting_played(ari_events, channel)) >= 3 and g,
            timeout=20,
            what="the default greeting",
        )
    finally:
        phone.stop()
    assert played[:3] == ["sound:vm-theperson", f"digits:{m.number}", says], played


async def test_a_busy_members_own_greeting_is_played_as_it_is(
    controller, factory, settings, tmp_path, stasis, ari_events, need_sipp
):
    m = vm_member(factory, settings, email=None, step1="none")  # a greeting of their own
    set_forwarding(factory, m, step1="none", device_seconds=3)
    did = add_did(factory, m)
    phone = Phone(
        "busy", m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        await call_did(controller, did)
        start = await stasis.wait_for_args([cv.STASIS_VOICEMAIL, m.number, cv.VM_ARG_BUSY], timeout=25)
        played = await until(
            lambda: greeting_played(ari_events, {start["channel"]["id"]}),
            timeout=15,
            what="the member's greeting",
        )
    finally:
        phone.stop()
    assert played[0].startswith(f"sound:{settings.vm_media_dir}/greeting-{m.vn_id}-"), played
    assert "sound:vm-isonphone" not in played and "sound:vm-theperson" not in played, played


# ----- the files exist where Asterisk looks for each language (last in this module: a first test
# without the database would leave the session without tests/asterisk/conftest.py's rate deck)
# Refusals whose announcement Debian's Spanish set cannot say (no im-sorry, no
# feature-not-avail-line, no all-circuits-busy-now...): those play their English files
SPANISH_GAPS = {"error", "not_permitted_us_canada", "not_permitted_international", "unavailable"}


async def test_every_prompt_of_amounts_greetings_and_refusals_exists_in_each_language(asterisk):
    greetings = ["vm-theperson", "vm-isonphone", "vm-isunavail", "vm-intro"]
    numbers = ["digits/0", "digits/1", "digits/2"]  # SayNumber's files for the amounts said here
    missing: dict[str, set[str]] = {}
    for language in LANGUAGES:
        files = [*prompts.SOUNDS, *greetings, *numbers] + (["digits/1M"] if language == "es" else [])
        for reason in cv.REFUSALS:
            files += refusal_sounds(reason, language)
        for f in files:
            if not in_chroot(asterisk, f"/usr/share/asterisk/sounds/{language}/{f}.gsm"):
                missing.setdefault(language, set()).add(f)
    spanish_gaps = {f for reason in SPANISH_GAPS for f in refusal_sounds(reason, "es")}
    assert missing == {"es": spanish_gaps}, missing
