"""The platform's own service numbers dialled from a member's registered phone (SIPp with the
number's credentials, through the real dialplan): each reaches its service inside the platform,
at the dialplan entry a caller from the PSTN reaches, free, and never through the PSTN.

The member may call long distance and has credit: before service numbers were recognised, the
conference number went out as a billed domestic call and the toll-free access numbers as
toll-free calls to the (simulated) PSTN.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from db.models import CallAuthorization, Cdr, CdrCharge, CreditLot, ServiceNumber
from tests.support.events import AmiRecorder
from tests.support.members import make_member
from tests.support.realparts import unique_number
from tests.support.sipp import place_call
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _first(numbers: str) -> str:
    return numbers.split(",")[0].strip()


def _services(settings):
    """(number dialled, the dialplan application its entry runs, what the application is given)."""
    agi = f"agi://{settings.agi_host}:{settings.agi_port}/{settings.agi_token}/callingcard"
    return {
        "conference": (_first(settings.conference_numbers), "Stasis", f"{settings.ari_app},conference"),
        "conference toll-free": (
            _first(settings.conference_tollfree_numbers),
            "Stasis",
            f"{settings.ari_app},conference,tollfree",
        ),
        "calling card": (_first(settings.callingcard_numbers), "AGI", agi),
        "voicemail": (_first(settings.voicemail_numbers), "Stasis", f"{settings.ari_app},voicemail-main"),
    }


@pytest.fixture()
def sim_pstn(controller):
    rec = AmiRecorder(controller.ami, "UserEvent")
    yield rec
    rec.close()


async def _call_and_see_where_it_went(controller, settings, member, dialed: str, tmp_path) -> dict:
    """The phone calls `dialed`; the member's channel as Asterisk runs it once it sits in an
    application (ARI's channel list: its context, extension, application and data), then the
    call is hung up."""
    call = asyncio.create_task(
        asyncio.to_thread(
            place_call,
            member.number,
            member.sip_password,
            dialed,
            host=settings.asterisk_host,
            port=settings.sip_port,
            cwd=tmp_path,
            timeout=40,
        )
    )
    seen: dict = {}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen:
            for channel in await controller.ari.get("/channels"):
                plan = channel.get("dialplan", {})
                # past the members context (its own AGI is the decision, still being made)
                if (
                    channel["name"].startswith(f"PJSIP/{member.number}-")
                    and plan.get("context") != "members"
                    and plan.get("app_name") in ("Stasis", "AGI", "Dial")
                ):
                    seen = {"id": channel["id"], **plan}
                    break
            else:
                await asyncio.sleep(0.2)
        if seen:
            await asyncio.sleep(1)  # the application has the call (a PIN prompt is playing)
            try:
                await controller.ari.delete(f"/channels/{seen['id']}")
            except Exception:
                pass  # already gone
    finally:
        await asyncio.wait_for(call, 60)
    return seen


@pytest.mark.parametrize("service", ["conference", "conference toll-free", "calling card", "voicemail"])
async def test_a_members_phone_reaches_each_service_number_inside_and_free(
    controller, factory, settings, sim_pstn, tmp_path, need_sipp, service
):
    number, app, data = _services(settings)[service]
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True, allow_international_ld=True)

    seen = await _call_and_see_where_it_went(controller, settings, m, number, tmp_path)

    # the same entry a PSTN caller reaches: [incoming], the number, its application
    assert (seen.get("context"), seen.get("exten"), seen.get("app_name")) == ("incoming", number, app), seen
    assert seen.get("app_data") == data, seen
    assert not sim_pstn.matching(UserEvent="SimPstn"), "the call went out to the PSTN"

    # recorded as a service call: free, nothing held, nothing charged
    def cdr():
        with factory() as s:
            return s.scalar(select(Cdr).where(Cdr.vnum == m.number))

    row = await until(cdr, timeout=30, what="the call's CDR")
    assert (row.call_class, row.dialed) == ("S", number)
    await asyncio.sleep(1)  # the rater, had it anything to charge
    with factory() as s:
        cost = s.scalar(
            select(func.coalesce(func.sum(CdrCharge.cost), 0))
            .join(Cdr, Cdr.id == CdrCharge.cdr_id)
            .where(Cdr.vnum == m.number)
        )
        holds = s.scalar(
            select(func.count())
            .select_from(CallAuthorization)
            .where(CallAuthorization.account_id == m.account_id)
        )
        credit = s.scalar(select(func.sum(CreditLot.remaining)).where(CreditLot.account_id == m.account_id))
    assert (cost, holds, credit) == (0, 0, Decimal("5.00"))


async def test_an_operators_own_service_number_goes_to_its_dialplan_target(
    controller, factory, settings, sim_pstn, tmp_path, need_sipp
):
    """A number the operator adds (service `other`) reaches the dialplan target it names: here
    the voicemail access number's entry, from a number of its own."""
    access = _first(settings.voicemail_numbers)
    number = unique_number("1212")
    with factory() as s, s.begin():
        s.add(
            ServiceNumber(
                number=number,
                service="other",
                target=f"incoming,{access},1",
                description="test: a second way into voicemail",
            )
        )
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    try:
        seen = await _call_and_see_where_it_went(controller, settings, m, number, tmp_path)
        assert (seen.get("context"), seen.get("exten"), seen.get("app_name")) == (
            "incoming",
            access,
            "Stasis",
        )
        assert not sim_pstn.matching(UserEvent="SimPstn")
    finally:
        with factory() as s, s.begin():
            s.execute(delete(ServiceNumber).where(ServiceNumber.number == number))


async def test_a_disabled_service_number_is_an_ordinary_number_again(
    controller, factory, settings, sim_pstn, tmp_path, need_sipp
):
    number = unique_number("1212")  # a domestic number: the simulated PSTN answers it
    with factory() as s, s.begin():
        s.add(
            ServiceNumber(
                number=number,
                service="other",
                target=f"incoming,{number},1",
                description="off",
                enabled=False,
            )
        )
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    try:
        seen = await _call_and_see_where_it_went(controller, settings, m, number, tmp_path)
        assert (seen.get("context"), seen.get("app_name")) == ("dial-out", "Dial"), seen
        await sim_pstn.wait_for(15, UserEvent="SimPstn", Number=number, State="answered")
    finally:
        with factory() as s, s.begin():
            s.execute(delete(ServiceNumber).where(ServiceNumber.number == number))
