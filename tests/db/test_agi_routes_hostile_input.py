"""The real routes (outbound, inbound) with real database decisions against a protocol-level
fake of Asterisk: injected dial strings, shell characters and garbage variables are refused or
end cleanly, nothing extra is dialed, and the server keeps serving."""

from __future__ import annotations

import asyncio

import pytest

from agi.routes import ROUTES
from agi.server import FastAGIServer
from controller.services.deps import Deps
from db.hotpath import HotDB
from db.session import async_session_factory, make_async_engine
from tests.support.members import make_member

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def run_session(port, route, extension, endpoint, context="members"):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {
        "agi_network_script": route,
        "agi_channel": "PJSIP/x-1",
        "agi_uniqueid": "1.1",
        "agi_context": context,
        "agi_extension": extension,
        "agi_callerid": "13125550000",
    }
    writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
    await writer.drain()
    commands = []
    while line := await asyncio.wait_for(reader.readline(), 10):
        cmd = line.decode().rstrip("\n")
        commands.append(cmd)
        if cmd.startswith('GET VARIABLE "CHANNEL(endpoint)"'):
            writer.write(f"200 result=1 ({endpoint})\n".encode())
        elif cmd.startswith("GET VARIABLE"):
            writer.write(b"200 result=0\n")
        else:
            writer.write(b"200 result=1\n")
        await writer.drain()
    writer.close()
    return commands


@pytest.fixture()
async def server(database):
    engine = make_async_engine(database)
    pg = HotDB(database)
    await pg.open()
    # no token: these tests are about what the routes do with hostile input; the token is
    # test_a_request_without_the_controllers_token_runs_no_route's
    srv = FastAGIServer(ROUTES, Deps(settings=database, db=async_session_factory(engine), pg=pg), token="")
    await srv.start("127.0.0.1", 0)
    yield srv, srv._server.sockets[0].getsockname()[1]
    await srv.stop()
    await pg.close()
    await engine.dispose()


@pytest.mark.parametrize(
    "extension",
    [
        "12125550100&PJSIP/evil",
        "1212555;rm -rf /",
        "$(reboot)",
        "12125550100,,tTL(1)",
        "`id`",
        "12125550100|Local/evil",
        "１２１２５５５０１００",
        "+" * 30,
    ],
)
async def test_injected_dial_strings_are_refused_and_nothing_is_dialed(server, factory, settings, extension):
    srv, port = server
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True, allow_international_ld=True)
    commands = await run_session(port, "outbound", extension, m.number)
    sets = {
        c.split('"')[1]: c.split('"')[3] if c.count('"') >= 4 else ""
        for c in commands
        if c.startswith("SET VARIABLE")
    }
    assert sets.get("VOIP_DECISION") == "refuse", commands
    assert "VOIP_DIAL_TARGET" not in sets
    assert not any(c.startswith("EXEC") for c in commands)


async def test_garbage_endpoint_variable_is_refused(server):
    srv, port = server
    commands = await run_session(port, "outbound", "12125550100", 'x" EXEC Dial PJSIP/evil')
    assert any('"VOIP_DECISION" "refuse"' in c for c in commands)
    assert not any(c.startswith("EXEC") for c in commands)


async def test_inbound_for_garbage_number_is_refused_not_in_service(server):
    srv, port = server
    commands = await run_session(port, "inbound", "99;DROP TABLE dids", "", context="incoming")
    assert 'SET VARIABLE "VOIP_REFUSE" "not_in_service"' in commands
    ok_before = srv.handled
    commands = await run_session(port, "outbound", "911", "nobody")  # and it keeps serving
    assert srv.handled == ok_before + 1


async def test_a_request_without_the_controllers_token_runs_no_route(database, factory, settings):
    """Issue 13 item 10: the FastAGI port answers only requests carrying Settings.agi_token (the
    path prefix Asterisk's AGI_URL has), so a local process cannot make decisions or release
    holds: a bare `outbound` or one with a wrong token is refused before any route runs."""
    engine = make_async_engine(database)
    pg = HotDB(database)
    await pg.open()
    srv = FastAGIServer(ROUTES, Deps(settings=database, db=async_session_factory(engine), pg=pg))
    await srv.start("127.0.0.1", 0)
    port = srv._server.sockets[0].getsockname()[1]
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    try:
        for script in ("outbound", "x" * 32 + "/outbound", f"{database.agi_token}x/outbound"):
            commands = await run_session(port, script, "12125550100", m.number)
            assert not any("DIAL_TARGET" in c or "CDR(" in c for c in commands), (script, commands)
            assert any("error" in c for c in commands), (script, commands)
        commands = await run_session(port, f"{database.agi_token}/outbound", "12125550100", m.number)
        assert any("CDR(" in c for c in commands), commands  # the real path reaches the route
    finally:
        await srv.stop()
        await pg.close()
        await engine.dispose()
