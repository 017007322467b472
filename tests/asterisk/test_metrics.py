"""Metrics an operator can watch (issue 17 part 5): the controller's /metrics on its own port
counts a member's real call under its FastAGI route and times it, and shows the ARI and AMI links
up; Asterisk's own res_prometheus answers on its HTTP server."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.rules import channel_vars as cv
from tests.asterisk.test_outbound_calls import HANGS_UP, completed, phone_calls
from tests.support.events import AmiRecorder
from tests.support.members import make_member

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOMESTIC = "12125550100"


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the page at `url`: (name, sorted labels) -> value."""
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(url)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def controller_url(controller) -> str:
    return f"http://127.0.0.1:{controller.settings.metrics_port}/metrics"


async def test_a_members_call_is_counted_and_timed_under_its_route(
    controller, factory, settings, tmp_path, need_sipp
):
    route = cv.ROUTE_OUTBOUND
    ok = ("voip_agi_decisions_total", (("outcome", "ok"), ("route", route)))
    timed = ("voip_agi_decision_seconds_count", (("route", route),))
    before = await scrape(controller_url(controller))
    m = make_member(factory, settings, credit="1.00", allow_us_canada_ld=True)
    events = AmiRecorder(controller.ami, "UserEvent")
    try:
        call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=HANGS_UP)
        await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
        # while the call talks (about 3 s): one round of the poll the metrics server runs every
        # POLL_S seconds, read at once
        await controller.metrics.collector.poll()
        during = await scrape(controller_url(controller))
        completed(await call)
    finally:
        events.close()
    after = await scrape(controller_url(controller))
    assert after[ok] == before.get(ok, 0) + 1
    assert after[timed] == before.get(timed, 0) + 1
    seconds = ("voip_agi_decision_seconds_sum", (("route", route),))
    assert 0 < after[seconds] - before.get(seconds, 0) < 5  # a decision, not the call's length
    # the links, and the values polled from the database and Asterisk
    assert after[("voip_ami_up", ())] == 1
    assert after[("voip_ari_up", ())] == 1
    assert during[("voip_calls_up", ())] >= 1
    assert during[("voip_holds_open", ())] >= 1 and during[("voip_holds_open_credit", ())] > 0

    async def polled() -> dict | None:
        page = await scrape(controller_url(controller))
        return page if ("voip_holds_open", ()) in page and ("voip_calls_up", ()) in page else None

    page = None
    for _ in range(30):  # the poll runs every metrics.POLL_S seconds
        page = await polled()
        if page:
            break
        await asyncio.sleep(0.5)
    assert page, "the holds and calls gauges never appeared"
    assert page[("voip_holds_open", ())] >= 0 and page[("voip_webhook_backlog", ())] >= 0
    assert ("process_cpu_seconds_total", ()) in page  # prometheus_client's process collector


async def test_garbage_on_the_fastagi_port_is_counted_as_rejected(controller):
    garbage = ("voip_agi_rejected_total", (("reason", "garbage"),))
    before = await scrape(controller_url(controller))
    reader, writer = await asyncio.open_connection("127.0.0.1", controller.settings.agi_port)
    writer.write(b"GET / HTTP/1.0\n\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without a word
    writer.close()
    after = await scrape(controller_url(controller))
    assert after[garbage] == before.get(garbage, 0) + 1
    # no route label is made up from what a peer sent
    assert {dict(labels)["route"] for name, labels in after if name == "voip_agi_decisions_total"} <= set(
        controller.agi.routes
    )


async def test_metrics_port_answers_only_metrics(controller):
    async with httpx.AsyncClient(timeout=5) as client:
        r = await client.get(f"http://127.0.0.1:{controller.settings.metrics_port}/healthz")
    assert r.status_code == 404


async def test_asterisk_serves_its_own_prometheus_metrics(controller, settings):
    out = await controller.ami.command("module show like prometheus")
    assert "res_prometheus.so" in out and "Running" in out, out
    page = await scrape(f"http://{settings.asterisk_host}:{settings.ari_port}/metrics")
    assert any(name.startswith("asterisk_") for name, _ in page), sorted(page)[:20]
