"""Asterisk reaches our FastAGI routes and our Stasis app, and our ARI client and AMI link
recover by themselves from an Asterisk restart."""

from __future__ import annotations

import asyncio

import pytest

from controller.rules import channel_vars as cv
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_local_channel_reaches_fastagi_route_and_dialplan_reads_the_variable_it_set(controller):
    results: list[str] = []

    def on_user_event(manager, event):
        if event.get("UserEvent") == "VoipTest":
            results.append(event.get("Result", ""))

    controller.ami.on("UserEvent", on_user_event)
    handled_before = controller.agi.handled
    await controller.ami.originate(f"Local/agi@{cv.CTX_TEST}", application="Wait", data="1")
    await until(lambda: results, timeout=10, what="the VoipTest UserEvent")
    # the route set VOIP_PING_REPLY=pong:<uniqueid>; the dialplan read it into the UserEvent
    assert results[0].startswith("pong:") and len(results[0]) > len("pong:")
    assert controller.agi.handled == handled_before + 1


async def test_channel_entering_stasis_is_seen_by_our_ari_client(controller):
    seen: list[dict] = []

    async def on_start(event):
        if event.get("args") == ["test"]:
            seen.append(event)
            await controller.ari.delete(f"/channels/{event['channel']['id']}")

    controller.ari.on("StasisStart", on_start)
    try:
        await controller.ami.originate(f"Local/stasis@{cv.CTX_TEST}", application="Wait", data="1")
        await until(lambda: seen, timeout=10, what="StasisStart on our ARI app")
        assert seen[0]["application"] == controller.settings.ari_app
    finally:
        controller.ari.off("StasisStart", on_start)


async def test_ari_and_ami_reconnect_after_asterisk_restart_and_next_call_works(controller, asterisk):
    ari_connects = controller.ari.connects
    ami_logins = controller.ami.logins
    await asyncio.to_thread(asterisk.restart)
    await until(
        lambda: controller.ari.connects > ari_connects and controller.ari.connected.is_set(),
        timeout=30,
        what="ARI websocket to reconnect",
    )
    await until(
        lambda: controller.ami.logins > ami_logins and controller.ami.connected,
        timeout=30,
        what="AMI to log in again",
    )

    # the next call goes through both paths again
    seen: list[dict] = []

    async def on_start(event):
        seen.append(event)
        await controller.ari.delete(f"/channels/{event['channel']['id']}")

    controller.ari.on("StasisStart", on_start)
    try:
        await controller.ami.originate(f"Local/stasis@{cv.CTX_TEST}", application="Wait", data="1")
        await until(lambda: seen, timeout=10, what="StasisStart after the restart")
    finally:
        controller.ari.off("StasisStart", on_start)
    await test_local_channel_reaches_fastagi_route_and_dialplan_reads_the_variable_it_set(controller)


async def test_health_check_reports_all_links_up(controller):
    reader, writer = await asyncio.open_connection("127.0.0.1", controller.settings.health_port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    assert response.startswith("HTTP/1.1 200")
    assert '"ok": true' in response


async def test_asterisk_writes_cdrs_straight_into_postgresql(controller, factory):
    from sqlalchemy import select

    from db.models import Cdr

    with factory() as s:
        before = s.scalar(select(Cdr.id).order_by(Cdr.id.desc()).limit(1)) or 0
    await controller.ami.originate(
        f"Local/wait@{cv.CTX_TEST}", application="Wait", data="1", variables={"CDR(vnum)": "17000000001"}
    )

    def new_cdr():
        with factory() as s:
            return s.scalars(select(Cdr).where(Cdr.id > before, Cdr.dcontext == cv.CTX_TEST)).first()

    row = await until(new_cdr, timeout=45, what="a cdr row from cdr_pgsql")
    assert row.start is not None and row.uniqueid
    assert row.disposition in ("ANSWERED", "NO ANSWER")
