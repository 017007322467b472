"""Who gets in: the PIN names the conference and the role; wrong, expired, early and toll-free
callers hear why and are hung up."""

from __future__ import annotations

import datetime as dt

import pytest

from db.models import Conference
from tests.conference.phones import make_conference
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


async def test_wrong_pin_three_times_hears_invalid_pin_and_is_hung_up(
    controller, factory, phones, conference_app
):
    conf = make_conference(factory)
    phone = await phones.call(dtmf="ww111999#ww222999#ww333999#")
    await phones.hung_up(phone, timeout=40)
    heard = phones.playbacks_on(phone)
    assert heard.count("sound:conf-getpin") == 3
    assert heard.count("sound:conf-invalidpin") == 2
    assert heard[-2:] == ["sound:confbridge-pin-bad", "sound:goodbye"], heard
    assert conf.id not in conference_app.rooms


async def test_wrong_pin_then_the_right_one_gets_in(controller, factory, phones, conference_app):
    conf = make_conference(factory, quiet=True)
    phone = await phones.call(dtmf=f"ww111998#ww{conf.pins['normal']}#")
    room = await until(lambda: conference_app.rooms.get(conf.id), timeout=30, what="the conference to start")
    await until(lambda: phone.conf_channel_id in room.participants, timeout=10, what="the caller in")
    assert phones.playbacks_on(phone).count("sound:conf-invalidpin") == 1


@pytest.mark.parametrize("case", ["marked_expired", "duration_over"])
async def test_expired_conference_pin_hears_the_conference_has_ended(
    controller, factory, phones, conference_app, case
):
    if case == "marked_expired":
        conf = make_conference(factory, status="expired")
    else:
        conf = make_conference(factory, starts_at=NOW() - dt.timedelta(hours=2), duration=60)
    phone = await phones.call(conf.pins["normal"])
    await phones.hung_up(phone)
    heard = phones.playbacks_on(phone)
    assert heard[-2:] == ["sound:confbridge-conf-end", "sound:goodbye"], heard
    assert conf.id not in conference_app.rooms


async def test_too_early_caller_is_told_to_call_later_but_early_minutes_are_allowed(
    controller, factory, phones, conference_app
):
    early = controller.settings.conference_early_minutes
    later = make_conference(factory, starts_at=NOW() + dt.timedelta(minutes=early + 30), quiet=True)
    phone = await phones.call(later.pins["normal"])
    await phones.hung_up(phone)
    assert phones.playbacks_on(phone)[-2:] == ["sound:please-try-call-later", "sound:goodbye"]

    soon = make_conference(factory, starts_at=NOW() + dt.timedelta(minutes=early - 2), quiet=True)
    phone = await phones.call(soon.admin_pin)
    room = await until(lambda: conference_app.rooms.get(soon.id), timeout=30, what="an early start")
    await until(lambda: phone.conf_channel_id in room.participants, timeout=10, what="the caller in")
    with factory() as s:
        assert s.get(Conference, soon.id).status == "started"


async def test_toll_free_dial_in_only_when_the_conference_allows_800(
    controller, factory, phones, conference_app
):
    closed = make_conference(factory, allow_800=False, quiet=True)
    phone = await phones.call(closed.pins["normal"], tollfree=True)
    await phones.hung_up(phone)
    assert phones.playbacks_on(phone)[-2:] == ["sound:feature-not-avail-line", "sound:goodbye"]
    assert closed.id not in conference_app.rooms

    open_ = make_conference(factory, allow_800=True, quiet=True)
    phone = await phones.call(open_.pins["normal"], tollfree=True)
    room = await until(lambda: conference_app.rooms.get(open_.id), timeout=30, what="the toll-free caller in")
    await until(lambda: phone.conf_channel_id in room.participants, timeout=10, what="the caller in")


async def test_caller_hanging_up_during_the_pin_prompt_leaves_nothing_behind(
    controller, factory, phones, conference_app
):
    phone = await phones.call(dtmf="w")
    await until(lambda: phone.conf_channel_id in conference_app._digits, timeout=10, what="PIN prompt")
    await controller.ari.delete(f"/channels/{phone.channel_id}")
    await until(
        lambda: phone.conf_channel_id not in conference_app._digits,
        timeout=10,
        what="the PIN collector to let go",
    )
