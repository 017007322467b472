"""The operator's Call Records (issue 15), on real PostgreSQL: the search across accounts by
account (id or number), number, DID, destination prefix, carrier, outcome and date range; keyset
pages that neither skip nor repeat a record when many share a start time, forwards and back; the
CSV export (its rows, and that it streams in chunks); a record's detail with the charge the real
rater wrote (carrier, buy cost, margin), the hold it was started with, the carrier attempts and
the call's other legs; bad filter values refused with a message; members get 403."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
import uuid
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import delete, select, text

from controller.services.rater import rate_batch
from db import accounts, records
from db.models import CallAuthorization, Carrier, CdrCharge
from db.session import transaction
from tests.support.realparts import unique_number

from .conftest import sign_in, sign_in_user

URL = "/admin/records"
ROW_RE = re.compile(r'<tr class="record-row" data-record="(\d+)"')
OLDER_RE = re.compile(r'href="([^"]+)" rel="next"')
NEWER_RE = re.compile(r'href="([^"]+)" rel="prev"')


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)
    return client


@pytest.fixture()
def carrier(factory):
    """A disabled carrier (no other test routes calls to it) with a buy rate for 1 and 44."""
    name = f"rec-{uuid.uuid4().hex[:8]}"
    with transaction(factory) as s:
        carrier_id = s.scalar(
            text("INSERT INTO carriers (name, host, enabled) VALUES (:n, '127.0.0.9', false) RETURNING id"),
            {"n": name},
        )
        for prefix, per_minute in (("1", "0.0040"), ("44", "0.0100")):
            s.execute(
                text(
                    "INSERT INTO carrier_rates (carrier_id, prefix, rate_per_minute, connect_fee, min_seconds,"
                    " increment_seconds) VALUES (:c, :p, :r, 0, 1, 1)"
                ),
                {"c": carrier_id, "p": prefix, "r": Decimal(per_minute)},
            )
    yield name
    with transaction(factory) as s:
        s.execute(delete(Carrier).where(Carrier.name == name))


def _cdr(s, *, start, account=None, number=None, src=None, dst, dialed=None, call_class=None,
         disposition="ANSWERED", billsec=60, carrier=None, attempts=None, linkedid=None, auth_id=None,
         vnum=None) -> int:  # fmt: skip
    """A CDR as cdr_pgsql writes it (our CDR variables in their own columns)."""
    uid = f"rec-{uuid.uuid4().hex[:12]}"
    answered = disposition == "ANSWERED"
    return s.scalar(
        text(
            "INSERT INTO cdr (accountcode, src, dst, dcontext, channel, dstchannel, lastapp, start, answer,"
            ' "end", duration, billsec, disposition, amaflags, uniqueid, linkedid, vnum, call_class, dialed,'
            " auth_id, carrier, attempts, carrier_attempts) VALUES (:acct, :src, :dst, 'members', :chan,"
            " :dchan, 'Dial', :start, :answer, :end, :dur, :bill, :disp, 'DOCUMENTATION', :uid, :lid, :vnum,"
            " :cc, :dialed, :auth, :carrier, :n, :attempts) RETURNING id"
        ),
        {
            "acct": str(account) if account is not None else "",
            "src": src or number,
            "dst": dst,
            "chan": f"PJSIP/{number or 'pstn'}-{uid[-8:]}",
            "dchan": f"PJSIP/carrier-{carrier}-1"
            if carrier and answered
            else ("PJSIP/x-1" if answered else ""),
            "start": start,
            "answer": start if answered else None,
            "end": start + dt.timedelta(seconds=billsec + 4),
            "dur": billsec + 4,
            "bill": billsec if answered else 0,
            "disp": disposition,
            "uid": uid,
            "lid": linkedid or uid,
            "vnum": vnum if vnum is not None else number,
            "cc": call_class,
            "dialed": dialed,
            "auth": auth_id,
            "carrier": carrier,
            "n": None if attempts is None else attempts.count(";") + 1,
            "attempts": attempts,
        },
    )


def _rate(factory, ids):
    """The real rater, on exactly these CDRs (the run's other tests queue theirs too)."""
    with transaction(factory) as s:
        claimed, charged = rate_batch(s, len(ids), list(ids))
    assert charged == len(ids)


def _ids(html: str) -> list[int]:
    return [int(i) for i in ROW_RE.findall(html)]


def _get(client, url, **args):
    response = client.get(url, query_string=args)
    return response, response.get_data(as_text=True)


@pytest.fixture()
def scene(factory, make_member, carrier):
    """Two members and their calls in a day of their own (2091), rated by the real rater."""
    a, b = make_member(), make_member()
    day = dt.datetime(2091, 3, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(uuid.uuid4().int % 3000))
    caller, did = unique_number("1415"), unique_number("1646")
    with transaction(factory) as s:
        hold = CallAuthorization(
            uniqueid=f"hold-{uuid.uuid4().hex[:10]}",
            account_id=a.account_id,
            virtual_number_id=a.vn_id,
            call_class="I",
            dialed="441632960000",
            rate_prefix="44",
            max_seconds=3600,
            held_credit=Decimal("1.5000"),
            expires_at=day + dt.timedelta(hours=2),
        )
        s.add(hold)
        s.flush()
        ids = {
            "domestic": _cdr(s, start=day + dt.timedelta(hours=1), account=a.account_id, number=a.number,
                             dst="13125550100", dialed="13125550100", call_class="D", carrier=carrier),
            "intl": _cdr(s, start=day + dt.timedelta(hours=2), account=a.account_id, number=a.number,
                         dst="441632960000", dialed="441632960000", call_class="I", billsec=125,
                         carrier=carrier, attempts=f"nowhere:503;{carrier}", auth_id=hold.id,
                         linkedid="rec-intl-" + a.number),
            "intl_unanswered": _cdr(s, start=day + dt.timedelta(hours=3), account=a.account_id,
                                    number=a.number, dst="33123456789", dialed="33123456789",
                                    call_class="I", disposition="NO ANSWER"),
            "inbound": _cdr(s, start=day + dt.timedelta(hours=4), src=caller, dst=did, vnum=a.number),
            "other": _cdr(s, start=day + dt.timedelta(hours=5), account=b.account_id, number=b.number,
                          dst="13125550100", dialed="13125550100", call_class="D", disposition="BUSY"),
        }  # fmt: skip
        # the international call's first attempt: its own CDR, same call (linkedid)
        ids["intl_leg"] = _cdr(
            s,
            start=day + dt.timedelta(hours=2),
            account=a.account_id,
            number=a.number,
            dst="441632960000",
            dialed="441632960000",
            disposition="FAILED",
            linkedid="rec-intl-" + a.number,
        )
        hold_id = hold.id
    _rate(factory, [ids[k] for k in ("domestic", "intl", "intl_unanswered", "other")])
    return {"a": a, "b": b, "day": day, "caller": caller, "did": did, "ids": ids, "hold": hold_id,
            "carrier": carrier}  # fmt: skip


def test_every_filter_finds_its_records_and_only_them(as_admin, scene):
    ids, a, b, day = scene["ids"], scene["a"], scene["b"], scene["day"]
    span = {"since": day.date().isoformat(), "until": day.date().isoformat()}

    def found(**args) -> list[int]:
        response, html = _get(as_admin, URL, **args)
        assert response.status_code == 200, html
        return _ids(html)

    newest_first = ["other", "inbound", "intl_unanswered", "intl_leg", "intl", "domestic"]
    # the intl call's two CDRs share a start: the later id first
    assert found(**span) == [ids[k] for k in newest_first]
    mine = [ids[k] for k in newest_first if k != "other"]
    assert found(account=str(a.account_id)) == mine
    assert found(account=a.number) == mine
    assert found(account="#" + str(b.account_id)) == [ids["other"]]
    assert found(number=scene["caller"]) == [ids["inbound"]]
    assert found(number="+" + scene["caller"]) == [ids["inbound"]]
    assert found(did=scene["did"]) == [ids["inbound"]]
    assert found(account=a.number, destination="44") == [ids["intl_leg"], ids["intl"]]
    assert found(account=a.number, destination="4416") == [ids["intl_leg"], ids["intl"]]
    assert found(account=a.number, destination="33") == [ids["intl_unanswered"]]
    assert found(carrier=scene["carrier"]) == [ids["intl"], ids["domestic"]]
    assert found(outcome="NO ANSWER", **span) == [ids["intl_unanswered"]]
    assert found(outcome="BUSY", **span) == [ids["other"]]
    assert found(outcome="FAILED", account=a.number) == [ids["intl_leg"]]
    hours = {
        "since": (day + dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"),
        "until": (day + dt.timedelta(hours=3, minutes=30)).strftime("%Y-%m-%d %H:%M"),
    }
    assert found(**hours) == [ids["intl_unanswered"], ids["intl_leg"], ids["intl"]]
    assert found(account=a.number, outcome="ANSWERED", carrier=scene["carrier"], destination="1") == [
        ids["domestic"]
    ]

    # the page shows the rated cost, the account, times labelled UTC
    _, html = _get(as_admin, URL, account=a.number)
    assert f'href="/admin/accounts/{a.account_id}"' in html
    assert "UTC</time>" in html and "Start (UTC)" in html
    assert 'rel="next"' not in html and 'rel="prev"' not in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"account": "999999999"}, "No account has that id or virtual number."),
        ({"account": "not-an-account"}, "No account has that id or virtual number."),
        ({"number": "12"}, "A number is 3 to 20 digits"),
        ({"did": "abc"}, "A DID is 3 to 20 digits"),
        ({"destination": "44x"}, "A destination is the first 1 to 20 digits"),
        ({"carrier": "Bad Name!"}, "A carrier name is 1 to 32 lowercase letters"),
        ({"outcome": "MAYBE"}, "Choose an outcome from the list."),
        ({"since": "2026-13-01"}, "A date is YYYY-MM-DD"),
        ({"until": "yesterday"}, "A date is YYYY-MM-DD"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "The start of the date range is after its end."),
        ({"after": "bm90LWEtY3Vyc29y"}, "That page link is not valid any more"),
        ({"before": "A" * 22 + "x"}, "That page link is not valid any more"),
    ],
)
def test_bad_filter_values_get_a_clear_message_and_no_rows(as_admin, args, message):
    response, html = _get(as_admin, URL, **args)
    assert response.status_code == 400
    assert message in unescape(html)
    assert 'class="form-errors"' in html and not _ids(html)
    export = as_admin.get(URL + "/export.csv", query_string=args)
    if "after" not in args and "before" not in args:
        assert export.status_code == 400 and export.mimetype == "text/html"


def test_a_tampered_cursor_is_refused_by_the_data_floor():
    good = records.encode_cursor(dt.datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC), 42)
    assert records.decode_cursor(good) == records.Key(
        dt.datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC), 42
    )
    for bad in ("", "x", good[:-1], good + "A", good.replace(good[3], "*"), "A" * 22, "_" * 22):
        assert records.decode_cursor(bad) is None, bad


@pytest.fixture()
def crowd(factory, make_member):
    """1,130 records of one member, many sharing a start (30 ticks of one second, 37 or 38 a
    tick, ids interleaved across ticks), unrated (no class: inbound calls)."""
    m = make_member()
    # within what the page accepts (dates to 2099): 3000 days from 2092 reached 2100 in 2.6 % of runs
    base = dt.datetime(2092, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(uuid.uuid4().int % 2900))
    with transaction(factory) as s:
        s.execute(
            text(
                "INSERT INTO cdr (accountcode, src, dst, start, duration, billsec, disposition, uniqueid,"
                " linkedid, vnum) SELECT :acct, '1415' || lpad(g::text, 7, '0'), n.num,"
                " CAST(:base AS timestamptz) + make_interval(secs => (g * 7) % 30), 10, 5, 'ANSWERED',"
                " 'crowd-' || n.num || '-' || g, 'crowd-' || n.num || '-' || g, n.num"
                " FROM generate_series(1, 1130) g, (SELECT CAST(:num AS text) AS num) n"
            ),
            {"acct": str(m.account_id), "num": m.number, "base": base},
        )
        expected = list(
            s.scalars(
                text("SELECT id FROM cdr WHERE vnum = :num ORDER BY start DESC, id DESC"), {"num": m.number}
            )
        )
    assert len(expected) == 1130
    return m, expected, base


def test_keyset_pages_forwards_and_back_cover_every_record_once(as_admin, factory, crowd):
    m, expected, base = crowd
    pages: list[list[int]] = []
    response, html = _get(as_admin, URL, account=m.number)
    while True:
        assert response.status_code == 200
        pages.append(_ids(html))
        older = OLDER_RE.search(html)
        if not older:
            break
        assert len(pages) < 30
        response = as_admin.get(unescape(older.group(1)))
        html = response.get_data(as_text=True)
    assert [len(p) for p in pages] == [50] * 22 + [30]
    assert [i for p in pages for i in p] == expected  # nothing skipped, nothing twice, in order
    assert "offset" not in html and "page=" not in html

    # and back again from the last page, by the "Newer" links: the same pages
    back = [pages[-1]]
    while True:
        newer = NEWER_RE.search(html)
        if not newer:
            break
        response = as_admin.get(unescape(newer.group(1)))
        html = response.get_data(as_text=True)
        back.append(_ids(html))
    assert list(reversed(back)) == pages
    # the data floor agrees with a small page size too
    f = records.Filters(account_id=m.account_id, account_numbers=(m.number,))
    walked, page = [], None
    while True:
        after = records.decode_cursor(page.older) if page and page.older else None
        if page is not None and after is None:
            break
        with factory() as s:
            page = records.search(s, f, after=after, page_size=7)
        walked.extend(r.id for r in page.rows)
    assert walked == expected

    # the unfiltered path (one ordered scan of (start, id)) in the crowd's minute, both ways
    span = records.Filters(since=base, until=base + dt.timedelta(minutes=1))
    forward: list[list[int]] = []
    with factory() as s:
        page = records.search(s, span, page_size=11)
        forward.append([r.id for r in page.rows])
        while page.older:
            page = records.search(s, span, after=records.decode_cursor(page.older), page_size=11)
            forward.append([r.id for r in page.rows])
        backward = [forward[-1]]
        while page.newer:
            page = records.search(s, span, before=records.decode_cursor(page.newer), page_size=11)
            backward.append([r.id for r in page.rows])
    assert [i for p in forward for i in p] == expected
    assert list(reversed(backward)) == forward


def test_csv_export_streams_every_matching_record(as_admin, crowd, scene):
    m, expected, base = crowd
    response = as_admin.get(URL + "/export.csv", query_string={"account": m.number}, buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    chunks = list(response.response)
    response.close()
    assert len(chunks) >= 3  # 500 rows a chunk: the body is never built whole
    rows = list(csv.reader(io.StringIO("".join(c if isinstance(c, str) else c.decode() for c in chunks))))
    assert rows[0][:3] == ["Record", "Start (UTC)", "Account"]
    assert [int(r[0]) for r in rows[1:]] == expected
    assert {r[2] for r in rows[1:]} == {str(m.account_id)}

    # a rated record's charge columns
    a, ids = scene["a"], scene["ids"]
    body = as_admin.get(URL + "/export.csv", query_string={"account": a.number, "destination": "44"})
    rows = list(csv.reader(io.StringIO(body.get_data(as_text=True))))
    by_id = {int(r[0]): r for r in rows[1:]}
    assert set(by_id) == {ids["intl"], ids["intl_leg"]}
    intl = by_id[ids["intl"]]
    assert intl[1] == (scene["day"] + dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert (
        intl[7] == "ANSWERED"
        and intl[8] == "02:09"
        and intl[9] == "125"
        and intl[10] == scene["carrier"]
        and intl[11] == "I"
    )
    assert Decimal(intl[14]) > 0 and Decimal(intl[13]) - Decimal(intl[14]) == Decimal(intl[15])


def test_a_records_detail_shows_its_charge_hold_attempts_and_legs(as_admin, factory, scene):
    ids = scene["ids"]
    with transaction(factory) as s:
        charge = s.scalar(select(CdrCharge).where(CdrCharge.cdr_id == ids["intl"]))
        hold = s.get(CallAuthorization, scene["hold"])
        assert charge is not None and hold is not None
        assert charge.buy_cost is not None and charge.margin == charge.cost - charge.buy_cost
        assert hold.settled_at is not None  # the rater settled it
    response, html = _get(as_admin, f"{URL}/{ids['intl']}")
    assert response.status_code == 200
    text_ = unescape(html)
    assert f"Call record {ids['intl']}" in text_
    charge_card = text_[text_.index('id="record-charge"') : text_.index('id="record-hold"')]
    assert "$" in charge_card and scene["carrier"] in charge_card
    assert "Buy cost" in charge_card and "Margin" in charge_card
    assert re.search(r'class="charge-buy">\$0\.0\d+<', charge_card)
    assert 'class="hold-id">' + str(scene["hold"]) in text_
    assert 'class="hold-credit">$1.50<' in text_
    attempts = re.findall(r'<li class="attempt" data-carrier="([^"]+)">', html)
    assert attempts == ["nowhere", scene["carrier"]]
    assert "failed: 503" in text_
    assert re.findall(r'<tr class="leg-row" data-record="(\d+)"', html) == [str(ids["intl_leg"])]
    assert "(UTC)" in text_

    # an unrated inbound record: no charge, no hold, no attempts, the only leg
    _, html = _get(as_admin, f"{URL}/{ids['inbound']}")
    assert "Not rated: no charge for this record." in unescape(html)
    assert "No hold" in html and "No carrier attempt recorded." in html
    assert "only leg" in html
    assert as_admin.get(f"{URL}/999999999999").status_code == 404


def test_members_get_403_on_every_records_route(client, make_member, scene):
    sign_in(client, make_member())
    for url in (URL, URL + "?account=1", URL + "/export.csv", f"{URL}/{scene['ids']['domestic']}"):
        assert client.get(url).status_code == 403, url


def test_call_records_is_in_the_operators_navigation(as_admin):
    html = as_admin.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/records"' in html
