"""The controller's carrier qualify (controller/services/carrier_qualify.py) against real parts:
a SIPp carrier answering OPTIONS (tests/sipp/carrier_answer.xml), an address where nothing
answers, and the carrier_health rows in PostgreSQL that the admin's Carriers page reads."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from controller.services.carrier_qualify import CarrierQualifier
from db.hotpath import HotDB
from db.models import Carrier, CarrierHealth
from db.session import transaction
from tests.support.carriers import SimCarrier, add_carrier, retire_carriers, start_carriers
from tests.support.realparts import unavailable
from tests.support.sipp import free_udp_port, sipp_binary
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")
_names = itertools.count(1)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCarrier]:
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")
    carriers = start_carriers(tmp_path_factory.mktemp("qualify"), {"answer": ("answer", "127.0.0.4")})
    yield carriers["answer"]
    carriers["answer"].stop()


@pytest_asyncio.fixture(loop_scope="session")
async def prober(database, factory) -> AsyncIterator[tuple[CarrierQualifier, list[set[str]], list[int]]]:
    hot = HotDB(database)
    await hot.open()
    told: list[set[str]] = []
    q = CarrierQualifier(hot, told.append, tick=0.2, max_wait=0.5)
    ids: list[int] = []
    q.start()
    yield q, told, ids
    await q.stop()
    await hot.close()
    retire_carriers(factory, ids)


def name(role: str) -> str:
    return f"q{role}-{os.getpid() % 10000}-{next(_names)}"


def health(factory, carrier_id: int) -> CarrierHealth | None:
    with factory() as s:
        return s.scalar(select(CarrierHealth).where(CarrierHealth.carrier_id == carrier_id))


async def test_a_carrier_answering_options_is_reachable_with_its_round_trip(factory, sim, prober):
    q, told, ids = prober
    live = name("live")
    ids.append(add_carrier(factory, live, sim, "0.01", qualify_seconds=1))
    row = await until(lambda: health(factory, ids[-1]), timeout=10, what="the live carrier's health row")
    assert row.reachable is True and row.rtt_ms is not None and 0 <= row.rtt_ms < 500
    assert row.detail.startswith("200")
    assert live not in q.down() and told and live not in told[-1]
    # SIPp saw our OPTIONS (its own message log)
    assert any("OPTIONS sip:127.0.0.4" in m for m in sim.received())


async def test_a_dead_address_is_unreachable_after_two_silent_probes_and_told_to_routing(factory, prober):
    q, told, ids = prober
    dead = name("dead")
    ids.append(
        add_carrier(factory, dead, ("127.0.0.6", free_udp_port("127.0.0.6")), "0.01", qualify_seconds=1)
    )
    row = await until(lambda: health(factory, ids[-1]), timeout=10, what="the dead carrier's health row")
    assert row.reachable is False and row.rtt_ms is None
    assert "no response to 2 OPTIONS" in row.detail
    await until(lambda: told and dead in told[-1], timeout=5, what="routing told the carrier is down")

    # disabled: forgotten, so no longer in the down set
    with transaction(factory) as s:
        s.execute(update(Carrier).where(Carrier.id == ids[-1]).values(enabled=False))
    await until(lambda: told and dead not in told[-1], timeout=5, what="the disabled carrier dropped")


async def test_a_carrier_with_qualify_zero_is_never_probed(factory, prober):
    q, told, ids = prober
    off = name("noq")
    ids.append(
        add_carrier(factory, off, ("127.0.0.6", free_udp_port("127.0.0.6")), "0.01", qualify_seconds=0)
    )
    await until(lambda: len(told) >= 3, timeout=5, what="a few rounds")
    last = len(told)
    await until(lambda: len(told) >= last + 3, timeout=5, what="three more rounds")
    assert off not in q.health and off not in told[-1]
    assert health(factory, ids[-1]) is None
