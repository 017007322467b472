"""The member's Account.language is the language of the prompts of that member's calls, on the
real Asterisk with Debian's Spanish and French core sounds (asterisk-core-sounds-es/-fr).

Evidence: Asterisk's own verbose log (console.log, verbose 3) names every file it plays with the
language it looked it up in, "Playing 'vm-youhave.gsm' (language 'es')", and the ARI playback
events carry the language of each playback."""

from __future__ import annotations

import re
import subprocess

import pytest
from sqlalchemy import update

from controller.rules import channel_vars as cv
from db.models import Account, Conference
from tests.asterisk.test_callingcard import card, dial_card, member_with_pin
from tests.conference.phones import AriRecorder, Phones, make_conference
from tests.support.events import AmiRecorder
from tests.support.realparts import unique_number
from tests.support.wait import until
from tests.voicemail.helpers import drop_greeting, leave_message, vm_member

pytestmark = pytest.mark.asyncio(loop_scope="session")

_PLAYING = re.compile(r"<(?P<channel>[^>]+)> Playing '(?P<file>[^']+)' \(language '(?P<lang>[^']*)'\)")


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


class AsteriskLog:
    """What Asterisk printed to this run's console log since the test began."""

    def __init__(self, asterisk):
        self.path = asterisk.log_path
        self.start = self.path.stat().st_size

    def played(self, channel_part: str) -> list[tuple[str, str]]:
        text = self.path.read_bytes()[self.start :].decode("utf-8", "replace")
        return [(m["file"], m["lang"]) for m in _PLAYING.finditer(text) if channel_part in m["channel"]]


def set_language(factory, account_id: int, language: str) -> None:
    with factory() as s, s.begin():
        s.execute(update(Account).where(Account.id == account_id).values(language=language))


def in_chroot(asterisk, path: str) -> bool:
    root = asterisk.run("root").strip()
    return subprocess.run(["chroot", root, "test", "-f", path]).returncode == 0


async def test_calling_card_of_a_spanish_speaking_member_plays_spanish_prompts(
    controller, asterisk, factory, settings, events
):
    m = member_with_pin(factory, settings, "64820", credit="0.05")
    set_language(factory, m.account_id, "es")
    log = AsteriskLog(asterisk)
    access = settings.callingcard_numbers.split(",")[0]
    await dial_card(
        controller, settings, card(m.number, "64820") + "w" * 14 + "12125550100#", unique_number("1415")
    )
    await events.wait_for(40, UserEvent="SimPstn", Number="12125550100", State="answered")

    played = await until(
        lambda: (
            (p := log.played(f"Local/{access}@{cv.CTX_FROM_PSTN}"))
            and any(f.startswith("vm-enter-num-to-call") for f, _ in p)
            and p
        ),
        timeout=10,
        what="the card's prompts in Asterisk's log",
    )
    by_file = {f.rsplit(".", 1)[0]: lang for f, lang in played}
    # before the PIN nobody is known: the channel's default language
    assert by_file["agent-user"] == by_file["agent-pass"] == "en", played
    # from the right PIN on: Spanish (the balance, "less than one dollar" for $0.05, and GET
    # DATA's prompt for the number), and the Spanish files exist where Asterisk looks for language es
    for prompt in ("vm-youhave", "queue-less-than", "digits/1M", "letters/dollar", "vm-enter-num-to-call"):
        assert by_file.get(prompt) == "es", played
        assert in_chroot(asterisk, f"/usr/share/asterisk/sounds/es/{prompt}.gsm"), prompt


async def test_refusal_after_the_pin_is_announced_in_the_members_language(
    controller, asterisk, factory, settings, events
):
    m = member_with_pin(factory, settings, "64821")  # US/Canada LD only: international refused
    set_language(factory, m.account_id, "fr")
    log = AsteriskLog(asterisk)
    access = settings.callingcard_numbers.split(",")[0]
    await dial_card(
        controller, settings, card(m.number, "64821") + "w" * 14 + "011442079460000#", unique_number("1415")
    )
    await events.wait_for(40, UserEvent="VoipRefused", Reason="not_permitted_international")
    sound, _cause = cv.REFUSALS["not_permitted_international"]
    wanted = [s for s in sound.split("&")]

    def refusal():
        got = {f.rsplit(".", 1)[0]: lang for f, lang in log.played(f"Local/{access}@{cv.CTX_FROM_PSTN}")}
        return got if all(w in got for w in wanted) else None

    got = await until(refusal, timeout=15, what="the refusal's announcement in Asterisk's log")
    assert all(got[w] == "fr" for w in wanted), got
    assert in_chroot(asterisk, "/usr/share/asterisk/sounds/fr/feature-not-avail-line.gsm")


async def test_voicemail_of_a_french_speaking_member_greets_callers_in_french(
    controller, factory, settings, ari_events
):
    m = vm_member(factory, settings, email=None)
    drop_greeting(factory, m)
    set_language(factory, m.account_id, "fr")
    await leave_message(controller, m.number, wait=2, sound="beep")

    def default_greeting():
        return [
            e["playback"]
            for e in ari_events
            if e.get("type") == "PlaybackStarted"
            and e["playback"]["media_uri"] in ("sound:vm-theperson", f"digits:{m.number}")
        ]

    started = await until(
        lambda: len(default_greeting()) == 2 and default_greeting(), timeout=15, what="the default greeting"
    )
    assert [p["language"] for p in started] == ["fr", "fr"], started


@pytest.fixture()
async def conference_calls(controller):
    events = AriRecorder(controller.ari, "PlaybackStarted", "StasisStart", "StasisEnd")
    phones = Phones(controller, events)
    yield phones
    await phones.hang_up_all()
    events.close()


async def test_conference_prompts_after_the_pin_are_in_the_owners_language(
    controller, factory, conference_calls
):
    phones = conference_calls
    conf = make_conference(factory)
    with factory() as s, s.begin():
        owner = s.get(Conference, conf.id).account_id
        s.execute(update(Account).where(Account.id == owner).values(language="es"))
    phone = await phones.call(dtmf=f"ww111997#ww{conf.pins['normal']}#")
    app = controller.stasis.apps["conference"]
    room = await until(lambda: app.rooms.get(conf.id), timeout=30, what="the conference to start")
    joined = await phones.events.wait_for(
        "PlaybackStarted",
        lambda e: (
            e["playback"]["target_uri"] == f"bridge:{room.bridge_id}"
            and e["playback"]["media_uri"] == "sound:conf-hasjoin"
        ),
        what="(the join announcement)",
    )
    # the bridge announcement in the owner's language
    assert joined["playback"]["language"] == "es"
    # the caller's prompts: before the PIN named the conference, the default language
    before = [
        (e["playback"]["media_uri"], e["playback"]["language"])
        for e in phones.events.matching("PlaybackStarted")
        if e["playback"]["target_uri"] == f"channel:{phone.conf_channel_id}"
    ]
    assert before[:2] == [("sound:conf-getpin", "en"), ("sound:conf-invalidpin", "en")], before
    channel = await controller.ari.get(f"/channels/{phone.conf_channel_id}")
    assert channel["language"] == "es"
