"""The operator's Call Records journey in Chromium (issue 15): sign in as the operator, open Call
Records from the navigation, search by a member's number, see the member's calls newest first
with their rated cost and UTC times, try a bad destination (a clear message, no rows), open a
record's detail (its charge with carrier, buy cost and margin, its hold, the carriers it tried,
the call's other leg), come back, and download the CSV export of the search."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, text

from controller.services.rater import rate_batch
from db.models import CallAuthorization, Carrier
from db.session import transaction
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture()
def carrier(factory):
    name = f"brec-{uuid.uuid4().hex[:8]}"
    with transaction(factory) as s:
        carrier_id = s.scalar(
            text("INSERT INTO carriers (name, host, enabled) VALUES (:n, '127.0.0.9', false) RETURNING id"),
            {"n": name},
        )
        s.execute(
            text(
                "INSERT INTO carrier_rates (carrier_id, prefix, rate_per_minute, connect_fee, min_seconds,"
                " increment_seconds) VALUES (:c, '44', 0.6000, 0, 1, 1)"
            ),
            {"c": carrier_id},
        )
    yield name
    with transaction(factory) as s:
        s.execute(delete(Carrier).where(Carrier.name == name))


def _insert(s, member, *, start, dialed, billsec, disposition, call_class, carrier=None, attempts=None,
            linkedid, auth_id=None) -> int:  # fmt: skip
    uid = f"brec-{uuid.uuid4().hex[:12]}"
    answered = disposition == "ANSWERED"
    return s.scalar(
        text(
            "INSERT INTO cdr (accountcode, src, dst, dcontext, channel, dstchannel, lastapp, start, answer,"
            ' "end", duration, billsec, disposition, uniqueid, linkedid, vnum, call_class, dialed, auth_id,'
            " carrier, attempts, carrier_attempts) VALUES (:acct, :num, :dialed, 'members', :chan, :dchan,"
            " 'Dial', :start, :answer, :end, :dur, :bill, :disp, :uid, :lid, :num, :cc, :dialed, :auth,"
            " :carrier, :n, :attempts) RETURNING id"
        ),
        {
            "acct": str(member.account_id),
            "num": member.number,
            "dialed": dialed,
            "chan": f"PJSIP/{member.number}-{uid[-8:]}",
            "dchan": f"PJSIP/carrier-{carrier}-1" if answered else "",
            "start": start,
            "answer": start if answered else None,
            "end": start + dt.timedelta(seconds=billsec + 3),
            "dur": billsec + 3,
            "bill": billsec if answered else 0,
            "disp": disposition,
            "uid": uid,
            "lid": linkedid,
            "cc": call_class,
            "auth": auth_id,
            "carrier": carrier,
            "n": None if attempts is None else attempts.count(";") + 1,
            "attempts": attempts,
        },
    )


async def test_search_open_a_record_and_export(page, factory, make_member, operator, carrier, rate_deck):
    member = make_member()
    start = dt.datetime(2026, 11, 20, 14, 30, 5, tzinfo=dt.UTC)
    linkedid = f"brec-call-{uuid.uuid4().hex[:8]}"
    with transaction(factory) as s:
        hold = CallAuthorization(
            uniqueid=linkedid,
            account_id=member.account_id,
            virtual_number_id=member.vn_id,
            call_class="I",
            dialed="441632960000",
            rate_prefix="44",
            max_seconds=1800,
            held_credit=Decimal("2.0000"),
            expires_at=start + dt.timedelta(hours=1),
        )
        s.add(hold)
        s.flush()
        failed = _insert(s, member, start=start, dialed="441632960000", billsec=0, disposition="FAILED",
                         call_class=None, linkedid=linkedid)  # fmt: skip
        answered = _insert(s, member, start=start, dialed="441632960000", billsec=125, disposition="ANSWERED",
                           call_class="I", carrier=carrier, attempts=f"lost:503;{carrier}", linkedid=linkedid,
                           auth_id=hold.id)  # fmt: skip
        earlier = _insert(s, member, start=start - dt.timedelta(days=1), dialed="14155550100", billsec=60,
                          disposition="ANSWERED", call_class="D", linkedid=linkedid + "-b")  # fmt: skip
        hold_id = hold.id
    with transaction(factory) as s:
        assert rate_batch(s, 2, [answered, earlier])[1] == 2

    await login(page, operator)
    await page.click('#sidenav a:text-is("Call Records")')
    await page.wait_for_load_state()
    assert page.url.endswith("/admin/records")
    assert "Times are in UTC" in await page.inner_text("main")

    # a bad destination: a clear message, nothing listed
    await page.fill("#account", member.number)
    await page.fill("#destination", "44-x")
    await page.click("#records-search button[type=submit]")
    await page.wait_for_load_state()
    assert "A destination is the first 1 to 20 digits" in await page.inner_text(".form-errors")
    assert await page.locator("tr.record-row").count() == 0
    page.console_errors.clear()  # the refused search's 400, which Chromium reports; nothing else may

    await page.fill("#destination", "")
    await page.click("#records-search button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-records")
    rows = page.locator("tr.record-row")
    assert [await r.get_attribute("data-record") for r in await rows.all()] == [
        str(answered),
        str(failed),
        str(earlier),
    ]
    first = await rows.nth(0).inner_text()
    assert "2026-11-20 14:30:05 UTC" in first and carrier in first and "$2.50" in first

    export_href = await page.get_attribute("#records-export", "href")
    assert export_href and "account=" + member.number in export_href

    await rows.nth(0).locator("a").first.click()
    await page.wait_for_load_state()
    assert page.url.endswith(f"/admin/records/{answered}")
    await shot(page, "journey-admin-record")
    charge = await page.inner_text("#record-charge")
    assert "$2.50" in charge and carrier in charge and "44 (GB)" in charge
    assert "$1.25" in charge  # the buy cost: 125 s at $0.60 a minute
    assert str(hold_id) in await page.inner_text("#record-hold")
    assert [await a.get_attribute("data-carrier") for a in await page.locator("li.attempt").all()] == [
        "lost",
        carrier,
    ]
    assert await page.locator("tr.leg-row").get_attribute("data-record") == str(failed)

    await page.click('p.actions a:text-is("Call Records")')
    await page.wait_for_load_state()
    assert page.url.endswith("/admin/records")
    await page.goto(f"/admin/records?account={member.number}")
    async with page.expect_download() as info:
        await page.click("#records-export")
    download = await info.value
    path = await download.path()
    assert path is not None
    lines = list(csv.reader(io.StringIO(open(path, encoding="utf-8").read())))
    assert lines[0][0] == "Record" and [int(r[0]) for r in lines[1:]] == [answered, failed, earlier]
    assert lines[1][13] == "2.5000" and lines[1][14] == "1.2500" and lines[1][15] == "1.2500"
    assert not page.console_errors
