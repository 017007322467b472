"""Least-cost routing on the real Asterisk (issue 14): a member's phone (SIPp, registered with
the number's credentials) calls out through the real dialplan, and the carriers are SIPp UAS
processes on 127.0.0.4-6 (tests/support/carriers.py) published through realtime.

Each test says which carrier saw the INVITE (its own SIPp message log) and what the member's
CDR rows say: the carrier of each attempt, the attempts made, the outcome of each
(`carrier_attempts`). The cheapest carrier gets the call; the next one gets it when the first
answers 503, is silent past its setup time, is at its channel limit, is disabled or fails its
qualify; a busy called party (486) ends the call without trying another carrier.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from flask.testing import FlaskClient
from sqlalchemy import select

from agi.outbound import routing_cache
from controller.rules.rating import Rate, cost
from db import billing
from db.models import CallAuthorization, CarrierHealth, CarrierRate, Cdr, CdrCharge
from tests.asterisk.test_call_history_real_calls import _rows_of
from tests.support.carriers import SimCarrier, add_carrier, retire_carriers, start_carriers
from tests.support.events import AmiRecorder
from tests.support.members import Member, make_member
from tests.support.realparts import unavailable
from tests.support.sipp import SippResult, free_udp_port, place_call, sipp_binary
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

DIALED = "12125550142"  # the test deck sells prefix 1 at $0.60/min; the carriers buy below
STAYS, HANGS_UP = "uac_call.xml", "uac_call_bye.xml"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SimCarrier]]:
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")
    carriers = start_carriers(
        tmp_path_factory.mktemp("carriers"),
        {
            "answer": ("answer", "127.0.0.4"),
            "answer2": ("answer", "127.0.0.5"),
            "r503": ("503", "127.0.0.6"),
            "silent": ("silent", "127.0.0.6"),
            "busy": ("busy", "127.0.0.6"),
        },
    )
    yield carriers
    for c in carriers.values():
        c.stop()


class Routes:
    """The carriers of one test: added through the test factory (realtime caches expired on
    commit), disabled at the end; `ready` makes the controller's routing table see them."""

    def __init__(self, controller, factory):
        self.controller, self.factory = controller, factory
        self.ids: list[int] = []

    def add(self, role: str, sim: SimCarrier | tuple[str, int], rate: str, **fields: object) -> str:
        name = f"{role}-{os.getpid() % 10000}-{next(_names)}"
        self.ids.append(add_carrier(self.factory, name, sim, rate, **fields))
        return name

    async def ready(self) -> None:
        await routing_cache(self.controller.deps).check_now()


@pytest_asyncio.fixture(loop_scope="session")
async def routes(controller, factory) -> AsyncIterator[Routes]:
    r = Routes(controller, factory)
    yield r
    retire_carriers(factory, r.ids)
    await r.ready()  # the other tests' calls leave through the single trunk again


@pytest.fixture()
def panel(database, engine) -> Iterator[FlaskClient]:
    """The member panel's test client on this run's database (the member's Call History)."""
    from webpanel import create_app

    app = create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine})
    yield app.test_client()


def member(factory, settings, credit: str = "5.00") -> Member:
    return make_member(factory, settings, credit=credit, allow_us_canada_ld=True)


def call(
    settings, m: Member, cwd: Path, scenario: str = HANGS_UP, dialed: str = DIALED
) -> asyncio.Task[SippResult]:
    return asyncio.create_task(
        asyncio.to_thread(
            place_call,
            m.number,
            m.sip_password,
            dialed,
            host=settings.asterisk_host,
            port=settings.sip_port,
            cwd=cwd,
            timeout=30,
            scenario=scenario,
        )
    )


def rows(factory, m: Member) -> list[Cdr]:
    with factory() as s:
        return list(s.scalars(select(Cdr).where(Cdr.vnum == m.number).order_by(Cdr.id)))


async def answered_row(factory, m: Member) -> Cdr:
    return await until(
        lambda: next((r for r in rows(factory, m) if r.disposition == "ANSWERED"), None),
        timeout=30,
        what="the answered CDR",
    )


def seen(sims: dict[str, SimCarrier]) -> dict[str, set[str]]:
    return {k: c.invites() for k, c in sims.items()}


def new_invites(sims: dict[str, SimCarrier], before: dict[str, set[str]]) -> dict[str, int]:
    return {k: len(c.invites() - before[k]) for k, c in sims.items()}


async def test_the_cheapest_carrier_gets_the_call(controller, factory, settings, sims, routes, tmp_path):
    cheap = routes.add("cheap", sims["answer"], "0.0100")
    routes.add("dear", sims["answer2"], "0.0200")
    await routes.ready()
    m, before = member(factory, settings), seen(sims)
    result = await call(settings, m, tmp_path)
    assert result.ok, result.stdout[-1500:]
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts) == (cheap, 1)
    assert new_invites(sims, before) == {"answer": 1, "answer2": 0, "r503": 0, "silent": 0, "busy": 0}


async def test_a_503_from_the_cheapest_fails_over_to_the_next(
    controller, factory, settings, sims, routes, tmp_path, panel
):
    first = routes.add("full", sims["r503"], "0.0100")
    second = routes.add("next", sims["answer"], "0.0200")
    await routes.ready()
    m, before = member(factory, settings), seen(sims)
    result = await call(settings, m, tmp_path)
    assert result.ok, result.stdout[-1500:]
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts) == (second, 2)
    assert row.carrier_attempts == f"{first}:503;{second}"
    assert new_invites(sims, before)["r503"] == 1
    assert new_invites(sims, before)["answer"] == 1
    all_rows = rows(factory, m)
    # one row per Dial, on the member's channel, with the same hold (the rater charges once)
    assert [(r.carrier, r.disposition, r.attempts) for r in all_rows] == [
        (first, "CONGESTION", 1),
        (second, "ANSWERED", 2),
    ]
    assert all_rows[0].carrier_attempts == first
    assert len({(r.auth_id, r.uniqueid) for r in all_rows}) == 1 and all_rows[0].auth_id is not None
    await the_answered_attempt_alone_is_paid(factory, m, all_rows, carriers=routes.ids[-2:], panel=panel)


async def the_answered_attempt_alone_is_paid(
    factory, m: Member, cdrs: list[Cdr], carriers: list[int], panel
) -> None:
    """The money of a failed-over call, as the controller's own rater left it: the member pays
    the answered attempt once, at the sell price; the carrier that carried it is paid its buy
    price for the same billed seconds; the attempt nobody answered costs nothing; the call's
    hold is given back; and the member's Call History never shows what the carrier cost us."""
    ids = [r.id for r in cdrs]
    first_id, carrier_id = carriers

    def charges() -> list[CdrCharge]:
        """Every charge of the member's (a new member: this call's only)."""
        with factory() as s:
            found = list(
                s.scalars(
                    select(CdrCharge).where(CdrCharge.account_id == m.account_id).order_by(CdrCharge.cdr_id)
                )
            )
        return found if len(found) == len(ids) else []

    unanswered, paid = await until(charges, timeout=30, what="the rater to charge both attempts")
    answered = cdrs[-1]
    billsec = answered.billsec or 0
    await until(lambda: hold_settled(factory, answered.auth_id), timeout=10, what="the call's hold settled")
    with factory() as s:
        buy = s.scalars(select(CarrierRate).where(CarrierRate.carrier_id == carrier_id)).one()
        buy_rate = Rate(
            buy.prefix, buy.rate_per_minute, buy.connect_fee, buy.min_seconds, buy.increment_seconds
        )
        credit_left = billing.available_balance(s, m.account_id, m.vn_id).credit
    assert [unanswered.cdr_id, paid.cdr_id] == ids
    assert (unanswered.cost, unanswered.billable_seconds, unanswered.carrier_id) == (
        Decimal("0"),
        0,
        first_id,
    )
    assert paid.cost > 0 and paid.carrier_id == carrier_id and billsec > 0
    assert paid.buy_cost == cost(billsec, buy_rate) > 0
    assert paid.margin == paid.cost - paid.buy_cost
    assert credit_left == Decimal("5.00") - paid.cost  # the one charge, and no hold left counting

    # one Call History row for the two attempts, at the member's price; nothing of ours
    [row] = _rows_of(panel, m, "call-history")
    assert (row["Disposition"], row["Cost"]) == ("Answered", f"${paid.cost:.2f}")
    html = panel.get("/call-history/").get_data(as_text=True)
    assert not {"Buy", "Margin", "Carrier", str(paid.buy_cost), str(paid.margin)} & set(
        re.findall(r"[\w.]+", html)
    )


async def test_a_silent_carrier_is_given_up_after_its_setup_time(
    controller, factory, settings, sims, routes, tmp_path
):
    first = routes.add("mute", sims["silent"], "0.0100", setup_timeout=2)
    second = routes.add("next", sims["answer"], "0.0200")
    await routes.ready()
    m, before = member(factory, settings), seen(sims)
    hung_up = controller.carrier_watch.hung_up
    result = await call(settings, m, tmp_path)
    assert result.ok, result.stdout[-1500:]
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts) == (second, 2)
    assert row.carrier_attempts.startswith(f"{first}:CHANUNAVAIL/102;")
    assert new_invites(sims, before)["silent"] == 1 and new_invites(sims, before)["answer"] == 1
    assert controller.carrier_watch.hung_up == hung_up + 1


async def test_a_carrier_at_its_channel_limit_is_skipped(
    controller, factory, settings, sims, routes, tmp_path
):
    first = routes.add("one", sims["answer"], "0.0100", max_channels=1)
    second = routes.add("next", sims["answer2"], "0.0200")
    await routes.ready()
    busy_member, before = member(factory, settings, credit="0.06"), seen(sims)  # 6 s at $0.60/min
    (tmp_path / "a").mkdir()
    up = call(settings, busy_member, tmp_path / "a", scenario=STAYS)  # Asterisk cuts it at 6 s
    await until(
        lambda: len(sims["answer"].invites() - before["answer"]) == 1, timeout=10, what="the first call"
    )
    await until(lambda: "ACK sip:" in "".join(sims["answer"].received()[-3:]), timeout=10, what="its answer")
    m = member(factory, settings)
    result = await call(settings, m, tmp_path)
    assert result.ok, result.stdout[-1500:]
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts) == (second, 1)
    assert row.carrier_attempts == f"{first}:full;{second}"
    assert new_invites(sims, before)["answer"] == 1  # only the first call's
    assert new_invites(sims, before)["answer2"] == 1
    await up


async def test_a_disabled_carrier_is_never_tried(controller, factory, settings, sims, routes, tmp_path):
    routes.add("off", sims["answer"], "0.0100", enabled=False)
    second = routes.add("next", sims["answer2"], "0.0200")
    await routes.ready()
    m, before = member(factory, settings), seen(sims)
    result = await call(settings, m, tmp_path)
    assert result.ok, result.stdout[-1500:]
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts, row.carrier_attempts) == (second, 1, second)
    assert new_invites(sims, before)["answer"] == 0 and new_invites(sims, before)["answer2"] == 1


async def test_a_carrier_failing_its_qualify_is_skipped(
    controller, factory, settings, sims, routes, tmp_path
):
    nobody = ("127.0.0.6", free_udp_port("127.0.0.6"))  # nothing answers its OPTIONS
    first = routes.add("dead", nobody, "0.0100", qualify_seconds=1)
    second = routes.add("next", sims["answer2"], "0.0200")
    await routes.ready()
    dead_id = routes.ids[-2]

    def marked_down() -> bool:
        # the controller's own OPTIONS prober (controller/services/carrier_qualify.py): Asterisk
        # does not qualify carriers published through realtime
        with factory() as s:
            health = s.get(CarrierHealth, dead_id)
        return (
            health is not None and health.reachable is False and first in routing_cache(controller.deps).down
        )

    await until(marked_down, timeout=15, interval=0.5, what="the controller to mark the dead carrier down")
    m, before = member(factory, settings), seen(sims)
    result = await call(settings, m, tmp_path)
    assert result.ok, result.stdout[-1500:]
    row = await answered_row(factory, m)
    # never dialed: the routing decision left it out, so it is not even an attempt
    assert (row.carrier, row.attempts, row.carrier_attempts) == (second, 1, second)
    assert all(first not in (r.carrier_attempts or "") for r in rows(factory, m))
    assert new_invites(sims, before)["answer2"] == 1

    # every carrier of the number down: no carrier route, the default trunk (VOIP_ROUTE_FALLBACK)
    retire_carriers(factory, [routes.ids[-1]])
    await routes.ready()
    decision = await routing_cache(controller.deps).route(DIALED, None)
    assert decision is not None and decision.refused_reason == "no_route" and not decision.candidates


async def test_busy_from_the_called_party_does_not_fail_over(
    controller, factory, settings, sims, routes, tmp_path
):
    first = routes.add("busy", sims["busy"], "0.0100")
    routes.add("next", sims["answer2"], "0.0200")
    await routes.ready()
    m, before = member(factory, settings), seen(sims)
    await call(settings, m, tmp_path)  # the phone gets the 486 (its scenario wants an answer)
    row = await until(lambda: next(iter(rows(factory, m)), None), timeout=15, what="the busy call's CDR")
    assert (row.carrier, row.attempts, row.disposition) == (first, 1, "BUSY")
    assert row.carrier_attempts == first  # no attempt before it
    assert new_invites(sims, before)["busy"] == 1
    assert new_invites(sims, before)["answer2"] == 0  # the second carrier never saw an INVITE
    # the Dial's row, then the row of the Hangup() that ended the call (a channel that goes on
    # in the dialplan after an unanswered Dial opens a CDR of its own): it has the whole log
    attempt, last = rows(factory, m)
    assert (attempt.lastapp, last.lastapp, last.dstchannel) == ("Dial", "Hangup", None)
    assert last.carrier_attempts == f"{first}:486;" and last.auth_id == attempt.auth_id
    await until(
        lambda: hold_settled(factory, attempt.auth_id), timeout=10, what="the busy call's hold given back"
    )


def hold_settled(factory, auth_id: int | None) -> bool:
    with factory() as s:
        hold = s.get(CallAuthorization, auth_id)
        return hold is not None and hold.settled_at is not None


async def test_a_number_no_carrier_reaches_leaves_through_the_default_trunk(
    controller, factory, settings, sims, routes, tmp_path
):
    """The old single trunk (VOIP_PSTN_DIAL, here the simulated PSTN) is the default carrier: a
    destination no enabled carrier's deck covers goes there (VOIP_ROUTE_FALLBACK, on by
    default), not refused, so adding a first carrier for some destinations breaks none."""
    routes.add("uk-only", sims["answer"], "0.0100", prefix="44")
    await routes.ready()
    m, before = member(factory, settings), seen(sims)
    pstn = AmiRecorder(controller.ami, "UserEvent")
    try:
        result = await call(settings, m, tmp_path)
        assert result.ok, result.stdout[-1500:]
        await pstn.wait_for(15, UserEvent="SimPstn", Number=DIALED, State="answered")
    finally:
        pstn.close()
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts) == (None, None)
    assert new_invites(sims, before)["answer"] == 0


async def test_a_number_only_reachable_at_a_loss_is_refused_and_its_hold_given_back(
    controller, factory, settings, sims, routes, tmp_path, ami_events
):
    routes.add("dear", sims["answer"], "0.9000")  # buys above the member's $0.60/min
    await routes.ready()
    m, before = member(factory, settings), seen(sims)
    await call(settings, m, tmp_path, scenario=STAYS)  # answered, announced, hung up by Asterisk
    await ami_events.wait_for(15, UserEvent="VoipRefused", Reason="not_in_service")
    assert new_invites(sims, before)["answer"] == 0
    with factory() as s:
        holds = s.scalars(
            select(CallAuthorization).where(CallAuthorization.virtual_number_id == m.vn_id)
        ).all()
    assert len(holds) == 1 and holds[0].settled_at is not None


@pytest.fixture(scope="module")
def demo_carrier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCarrier]:
    """The demo's cheap carrier (scripts/sim-carriers): what it does depends on the number."""
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")
    carrier = start_carriers(tmp_path_factory.mktemp("demo"), {"cheap": ("by_number", "127.0.0.4")})["cheap"]
    yield carrier
    carrier.stop()


@pytest.mark.parametrize("dialed, outcome", [("12125550503", "503"), ("12125550599", "CHANUNAVAIL/102")])
async def test_the_demo_carrier_fails_over_by_number(
    controller, factory, settings, sims, demo_carrier, routes, tmp_path, dialed, outcome
):
    first = routes.add("demo", demo_carrier, "0.0100", setup_timeout=2)
    second = routes.add("backup", sims["answer2"], "0.0200")
    await routes.ready()
    m = member(factory, settings)
    result = await call(settings, m, tmp_path, dialed=dialed)
    assert result.ok, result.stdout[-1500:]
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts, row.carrier_attempts) == (second, 2, f"{first}:{outcome};{second}")
    assert dialed in demo_carrier.invited_numbers()


async def test_the_calling_cards_billed_leg_fails_over_too(controller, factory, settings, sims, routes):
    from tests.asterisk.test_callingcard import card, dial_card, member_with_pin, reset_pin_budgets

    first = routes.add("full", sims["r503"], "0.0100")
    second = routes.add("next", sims["answer"], "0.0200")
    await routes.ready()
    reset_pin_budgets(factory)
    m = member_with_pin(factory, settings, "73914", credit="0.05")  # 5 s at $0.60/min
    before = seen(sims)
    # card and PIN while the prompts play, then wait out the balance announcement, then the number
    await dial_card(controller, settings, card(m.number, "73914") + "w" * 14 + f"{DIALED}#", "14155550123")
    row = await answered_row(factory, m)  # the billed leg's CDR (context billed-out)
    assert (row.carrier, row.attempts, row.carrier_attempts) == (second, 2, f"{first}:503;{second}")
    assert row.channel.startswith("Local/") and 4 <= row.billsec <= 6  # cut at the credit's limit
    assert new_invites(sims, before)["r503"] == 1 and new_invites(sims, before)["answer"] == 1
