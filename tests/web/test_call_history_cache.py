"""Call History's rendered report is kept per process (issue 16: Speed) and must never be stale
nor shared: a call added after a page was rendered is on the next load, a charge the rater
writes later shows its cost, another member with the same page never gets this member's."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert

from db.models import CdrCharge
from db.session import transaction
from webpanel.call_history import kept

from .cdrs import add_cdrs, at, cdr_values
from .conftest import page, sign_in

URL = "/call-history/?start=2026-04-02&end=2026-04-02"


def _report(html: str) -> str:
    return html.split('aria-labelledby="chart-title"', 1)[1].split("</main>", 1)[0]


def _placed(number: str, when: str, dialed: str) -> dict:
    return cdr_values(
        vnum=number, start=at(when), src=number, dst=dialed, dialed=dialed, call_class="D", billsec=42
    )


def test_a_call_added_after_the_page_was_rendered_is_on_the_next_load(client, make_member, factory):
    member = make_member(time_zone="UTC")
    add_cdrs(factory, [_placed(member.number, "2026-04-02 10:00:00", "14155550101")])
    sign_in(client, member)
    first = page(client, URL)
    assert "Records 1–1 of 1" in first and "14155550101" in first
    assert _report(page(client, URL)) == _report(first)  # unchanged data: the kept report

    [cdr_id] = add_cdrs(factory, [_placed(member.number, "2026-04-02 11:00:00", "14155550102")])
    second = page(client, URL)
    assert "Records 1–2 of 2" in second and "14155550102" in second

    # the rater prices the new call afterwards: its cost shows on the next load
    assert "$0.73" not in second
    with transaction(factory) as s:
        s.execute(
            insert(CdrCharge).values(cdr_id=cdr_id, call_type="D", country="US", cost=Decimal("0.7300"))
        )
    assert "$0.73" in page(client, URL)


def test_another_member_never_gets_the_members_kept_report(client, make_member, factory):
    one, two = make_member(time_zone="UTC"), make_member(time_zone="UTC")
    add_cdrs(factory, [_placed(one.number, "2026-04-02 09:00:00", "14155550111")])
    add_cdrs(factory, [_placed(two.number, "2026-04-02 09:30:00", "14155550122")])
    sign_in(client, one)
    mine = page(client, URL)
    assert "14155550111" in mine and "14155550122" not in mine
    sign_in(client, two)
    theirs = page(client, URL)
    assert "14155550122" in theirs and "14155550111" not in theirs


def test_the_kept_reports_are_bounded():
    for i in range(kept.SIZE + 10):
        kept._kept.put(("bound-test", i), ((0, 0), "x"))
    assert kept.size() <= kept.SIZE
    kept.forget()


def test_another_members_call_keeps_the_members_report_but_their_own_call_and_charge_do_not(
    client, make_member, factory
):
    """The version is the member's own (kept.version_columns): a call anywhere else on the
    platform leaves the kept report in use; the member's new call and the charge of it do not."""
    one, two = make_member(time_zone="UTC"), make_member(time_zone="UTC")
    add_cdrs(factory, [_placed(one.number, "2026-04-02 09:00:00", "14155550131")])
    sign_in(client, one)
    page(client, URL)
    [(key, (_expires, (version, html)))] = [
        (k, v) for k, v in kept._kept._data.items() if k[0] == "call_history" and k[1] == one.user_id
    ]

    # another member's call and its charge: same version, the same kept fragment object
    [theirs] = add_cdrs(factory, [_placed(two.number, "2026-04-02 09:10:00", "14155550132")])
    with transaction(factory) as s:
        s.execute(
            insert(CdrCharge).values(
                cdr_id=theirs, account_id=two.account_id, call_type="D", country="US", cost=Decimal("0.1100")
            )
        )
    assert "14155550132" not in page(client, URL)
    assert kept._kept._data[key][1] == (version, html)
    assert kept._kept._data[key][1][1] is html  # reused, not rendered again

    # the member's own new call: a new version, on the page
    [mine] = add_cdrs(factory, [_placed(one.number, "2026-04-02 09:20:00", "14155550133")])
    assert "14155550133" in page(client, URL)
    after_call = kept._kept._data[key][1][0]
    assert after_call != version

    # the rater charges it afterwards: a new version again, the cost shows
    with transaction(factory) as s:
        s.execute(insert(CdrCharge).values(cdr_id=mine, call_type="D", country="US", cost=Decimal("0.6700")))
    assert "$0.67" in page(client, URL)
    assert kept._kept._data[key][1][0] != after_call
