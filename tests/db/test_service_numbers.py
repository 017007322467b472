"""The service_numbers table (migration 0013): seeded from the install's settings, guarded by its
constraints, read by the outbound decision's one statement, and the route's decision for a
service number: its dialplan target, free, never a Dial to the trunk."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, select, update

from controller.rules import service_numbers as rules
from db.hotpath import HotDB, decision_context
from db.models import ServiceNumber
from tests.db.test_agi_routes_hostile_input import server  # noqa: F401  (a fixture)
from tests.support.members import make_member
from tests.support.realparts import unique_number

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _seeds(settings):
    return rules.from_settings(
        conference_numbers=settings.conference_numbers,
        conference_tollfree_numbers=settings.conference_tollfree_numbers,
        callingcard_numbers=settings.callingcard_numbers,
        voicemail_numbers=settings.voicemail_numbers,
    )


async def outbound(port: int, extension: str, endpoint: str) -> list[str]:
    """Route outbound as the members context runs it (the endpoint and the linkedid as the AGI's
    arguments), against a fake Asterisk that answers every command: the commands it got."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {
        "agi_network_script": "outbound",
        "agi_channel": f"PJSIP/{endpoint}-1",
        "agi_uniqueid": "1.1",
        "agi_context": "members",
        "agi_extension": extension,
        "agi_callerid": endpoint,
        "agi_arg_1": endpoint,
        "agi_arg_2": "1.1",
    }
    writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
    await writer.drain()
    commands = []
    while line := await asyncio.wait_for(reader.readline(), 10):
        commands.append(line.decode().rstrip("\n"))
        writer.write(b"200 result=1\n")
        await writer.drain()
    writer.close()
    return commands


def _sets(commands):
    """The variables the route set: SET VARIABLE "name" "value" or EXEC "MSet" "a=1,b=2"."""
    out = {}
    for c in commands:
        if c.startswith("SET VARIABLE"):
            out[c.split('"')[1]] = c.split('"')[3] if c.count('"') >= 4 else ""
        elif c.startswith('EXEC "MSet"'):
            out.update(pair.split("=", 1) for pair in c.split('"')[3].split(","))
    return out


async def test_the_migration_seeds_the_settings_service_numbers(factory, settings):
    with factory() as s:
        rows = {
            r.number: (r.service, r.target, r.enabled)
            for r in s.scalars(select(ServiceNumber).where(ServiceNumber.service != "other"))
        }
    expected = {x.number: (x.service, x.target, True) for x in _seeds(settings)}
    assert expected and {n: rows.get(n) for n in expected} == expected
    conference = settings.conference_numbers.split(",")[0].strip()
    assert rows[conference] == ("conference", f"incoming,{conference},1", True)


@pytest.mark.parametrize(
    "values",
    [
        {"target": "dial-out,dial,1"},  # a context that carries out decisions
        {"target": "incoming,1212;Dial(PJSIP/evil),1"},
        {"number": "12x"},
        {"service": "fax"},
        {"description": "x" * 201},
    ],
)
async def test_the_table_refuses_what_the_rule_refuses(factory, values):
    row = {"number": unique_number("1555"), "service": "other", "target": "admin-echo,s,1", **values}
    with factory() as s, pytest.raises(sa.exc.IntegrityError):
        s.add(ServiceNumber(**row))
        s.flush()


async def test_the_decision_statement_reads_the_enabled_service_numbers_among_the_candidates(
    database, factory, settings
):
    m = make_member(factory, settings)
    conference = settings.conference_numbers.split(",")[0].strip()
    off = unique_number("1212")
    with factory() as s, s.begin():
        s.add(ServiceNumber(number=off, service="other", target="admin-echo,s,1", enabled=False))
    pg = HotDB(database, max_size=1)
    await pg.open()
    try:
        async with pg.connection() as conn:
            ctx = await decision_context(conn, m.number, [conference[1:], conference], "700", "sn-1")
            assert dict(ctx.services) == {conference: f"incoming,{conference},1"}
            ctx = await decision_context(conn, m.number, [off], "700", "sn-2")
            assert dict(ctx.services) == {}  # disabled
    finally:
        await pg.close()
        with factory() as s, s.begin():
            s.execute(delete(ServiceNumber).where(ServiceNumber.number == off))


async def test_the_outbound_route_sends_a_service_number_to_its_target_free(server, factory, settings):  # noqa: F811
    srv, port = server
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    conference = settings.conference_numbers.split(",")[0].strip()
    commands = await outbound(port, conference[1:], m.number)  # dialled without the 1
    sets = _sets(commands)
    assert sets.get("VOIP_DECISION") == "service", commands
    assert sets.get("VOIP_DIAL_TARGET") == f"incoming/{conference}/1"  # the dialplan CUTs it at '/'
    # the decision in one round trip, as an on-net call's
    assert [c.split('"')[1] for c in commands if c.startswith(("SET", "EXEC"))] == ["MSet"], commands
    assert (sets.get("CDR(call_class)"), sets.get("CDR(dialed)")) == ("S", conference)
    assert "CDR(auth_id)" not in sets and "VOIP_MAX_SECONDS" not in sets  # nothing held, no limit

    with factory() as s, s.begin():
        s.execute(update(ServiceNumber).where(ServiceNumber.number == conference).values(enabled=False))
    try:
        commands = await outbound(port, conference, m.number)
        sets = _sets(commands)
        # an ordinary domestic number again: dialled to the PSTN and held for, or refused as not
        # in service when this run's database has no rate deck
        if sets.get("VOIP_DECISION") == "dial":
            assert sets.get("CDR(call_class)") == "D" and sets.get("CDR(auth_id)"), commands
            assert sets.get("VOIP_DIAL_TARGET") == settings.pstn_dial.format(number=conference)
        else:
            assert sets.get("VOIP_REFUSE") == "not_in_service", commands
    finally:
        with factory() as s, s.begin():
            s.execute(update(ServiceNumber).where(ServiceNumber.number == conference).values(enabled=True))
