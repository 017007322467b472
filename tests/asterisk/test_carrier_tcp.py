"""A carrier reached over TCP (issue 14): its realtime endpoint is on pjsip.conf's transport-tcp
and its contact says `;transport=tcp`, so a member's call (SIPp phone registered with the
number's credentials, over UDP) leaves Asterisk over TCP to a SIPp carrier listening on TCP
only (`-t t1`, tests/sipp/carrier_answer.xml); the controller qualifies it with OPTIONS over
a TCP connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from db.carriers import parse_values
from db.errors import ServiceError
from db.models import CarrierHealth
from tests.asterisk.test_carrier_failover import Routes, answered_row, call, member
from tests.support.carriers import SimCarrier, retire_carriers, start_carriers
from tests.support.realparts import unavailable
from tests.support.sipp import free_udp_port, sipp_binary
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def tcp_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCarrier]:
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")
    sims = start_carriers(
        tmp_path_factory.mktemp("tcp-carrier"), {"tcp": ("answer", "127.0.0.4")}, transport="tcp"
    )
    yield sims["tcp"]
    sims["tcp"].stop()


@pytest_asyncio.fixture(loop_scope="session")
async def routes(controller, factory) -> AsyncIterator[Routes]:
    r = Routes(controller, factory)
    yield r
    retire_carriers(factory, r.ids)
    await r.ready()


async def test_a_tcp_carrier_carries_a_members_call_and_is_qualified_over_tcp(
    controller, asterisk, factory, settings, tcp_sim, routes, tmp_path
):
    name = routes.add("tcp", tcp_sim, "0.0100", transport="tcp", qualify_seconds=1)
    carrier_id = routes.ids[-1]
    await routes.ready()
    m, before = member(factory, settings), tcp_sim.invites()
    result = await call(settings, m, tmp_path)
    assert result.ok, asterisk.log_path.read_text(errors="replace")[-6000:]
    row = await answered_row(factory, m)
    assert (row.carrier, row.attempts) == (name, 1)
    assert len(tcp_sim.invites() - before) == 1  # the SIPp carrier listens on TCP only
    assert any("TCP message received" in b and "INVITE sip:" in b for b in tcp_sim.received())

    def health() -> CarrierHealth | None:
        with factory() as s:
            h = s.get(CarrierHealth, carrier_id)
            return h if h is not None and h.reachable else None

    h = await until(health, timeout=15, interval=0.5, what="the TCP carrier qualified")
    assert h.detail.startswith("200") and h.rtt_ms is not None
    assert any("TCP message received" in b and "OPTIONS sip:" in b for b in tcp_sim.received())


async def test_a_tcp_carrier_nobody_listens_for_is_unreachable(controller, factory, routes):
    routes.add(
        "tcpdead", ("127.0.0.6", free_udp_port("127.0.0.6")), "0.0100", transport="tcp", qualify_seconds=1
    )
    carrier_id = routes.ids[-1]
    await routes.ready()

    def health() -> CarrierHealth | None:
        with factory() as s:
            h = s.get(CarrierHealth, carrier_id)
            return h if h is not None and h.reachable is False else None

    h = await until(health, timeout=15, interval=0.5, what="the dead TCP carrier marked down")
    assert h.detail.startswith("TCP:"), h.detail  # connection refused, at once


async def test_a_tcp_carrier_that_registers_registers_over_tcp(controller, factory, routes):
    port = free_udp_port("127.0.0.6")
    name = routes.add(
        "tcpreg",
        ("127.0.0.6", port),
        "0.0100",
        transport="tcp",
        qualify_seconds=0,
        register=True,
        auth_username="acct-t",
        auth_secret="Pass-t-1",
    )
    shown = await controller.ami.command(f"pjsip show registration carrier-{name}")
    assert f"sip:127.0.0.6:{port};transport=tcp" in shown and "transport-tcp" in shown, shown


async def test_tcp_is_accepted_and_tls_refused_with_its_reason():
    base = {"name": "t1", "host": "192.0.2.10", "port": "5060"}
    assert parse_values({**base, "transport": "tcp"}, creating=True)["transport"] == "tcp"
    with pytest.raises(ServiceError, match="TLS is not offered yet: it needs a certificate"):
        parse_values({**base, "transport": "tls"}, creating=True)
