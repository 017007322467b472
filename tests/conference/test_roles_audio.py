"""Three participants, three PINs, one bridge: the roles proven by the audio itself.

Each "speaks" by playing tt-monkeys (a loud, known sound) into the conference; the bridge is
recorded through ARI to hear what the conference hears, and each phone's received audio is
recorded through a snoop to hear what that participant hears."""

from __future__ import annotations

import asyncio

import pytest

from tests.conference.phones import Phones, duration, make_conference, rms
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECONDS = 3
SILENT = 30.0  # RMS of 16-bit samples: digital silence is 0, line noise would be tens
LOUD = 300.0  # tt-monkeys through the mix measures in the thousands


async def _speak_and_record(
    phones: Phones, speaker, bridge_id: str, listeners: list
) -> tuple[float, list[float]]:
    """`speaker` plays a sound into the conference while the bridge and each listener's
    received audio are recorded; returns (bridge RMS, [listener RMS...])."""
    talking = await phones.talk(speaker)
    try:
        await asyncio.sleep(0.5)  # let the sound get going (its first 0.5 s is near silence)
        names = [await phones.start_recording_bridge(bridge_id, SECONDS)]
        names += [await phones.start_recording_heard(p, SECONDS) for p in listeners]
        audio = [await phones.recording(n) for n in names]
    finally:
        await phones.stop_talking(talking)
    # a silent result must come from a full-length recording, not an empty one
    assert all(duration(a) >= SECONDS - 0.5 for a in audio), [duration(a) for a in audio]
    levels = [rms(a) for a in audio]
    return levels[0], levels[1:]


async def test_normal_talks_and_hears_listen_only_is_not_heard_talk_only_hears_nothing(
    controller, factory, phones, conference_app
):
    conf = make_conference(factory, quiet=True)
    normal = await phones.call(conf.pins["normal"])
    listen_only = await phones.call(conf.pins["listen_only"])
    talk_only = await phones.call(conf.pins["talk_only"])
    room = await until(
        lambda: (r := conference_app.rooms.get(conf.id)) and len(r.participants) == 3 and r,
        timeout=30,
        what="three participants in the conference",
    )

    # only the listen-only participant speaks: the conference hears nothing
    bridge_level, (heard_by_normal,) = await _speak_and_record(phones, listen_only, room.bridge_id, [normal])
    assert bridge_level < SILENT, f"listen-only participant was heard in the mix (RMS {bridge_level:.0f})"
    assert heard_by_normal < SILENT

    # the normal participant speaks: the mix carries it, the listen-only one hears it,
    # the talk-only one hears nothing
    bridge_level, (heard_by_listen_only, heard_by_talk_only) = await _speak_and_record(
        phones, normal, room.bridge_id, [listen_only, talk_only]
    )
    assert bridge_level > LOUD, f"normal participant not in the mix (RMS {bridge_level:.0f})"
    assert heard_by_listen_only > LOUD, (
        f"listen-only participant does not hear (RMS {heard_by_listen_only:.0f})"
    )
    assert heard_by_talk_only < SILENT, (
        f"talk-only participant hears the conference (RMS {heard_by_talk_only:.0f})"
    )

    # the talk-only participant speaks: the conference (and the normal participant) hears it
    bridge_level, (heard_by_normal,) = await _speak_and_record(phones, talk_only, room.bridge_id, [normal])
    assert bridge_level > LOUD and heard_by_normal > LOUD, (bridge_level, heard_by_normal)
