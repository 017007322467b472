"""Issue 16, the admin side (reviewer R-FORMS): the admin forms show every bad field of one
submit next to its field, a page with several forms keeps its element ids unique (a label and
an aria-describedby must reach the right input), and a change made in the panel never leaves
an audit row without its actor and address."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from html import unescape

from sqlalchemy import func, select

from db.models import AuditLog, CallingPlan, Did, Voucher
from db.session import transaction
from tests.support.realparts import unique_number
from webpanel.admin import services as admin_services

from .conftest import page
from .test_admin import _upload, admin, as_admin, post  # noqa: F401 (fixtures)

FIELD_MESSAGE = r'<p class="field-message" id="{}-error-\d+">([^<]*)</p>'


def _field_errors(html: str, field: str) -> list[str]:
    return [unescape(m) for m in re.findall(FIELD_MESSAGE.format(re.escape(field)), html)]


def _duplicate_ids(html: str) -> list[str]:
    counts = Counter(i for i in re.findall(r'\bid="([^"]+)"', html) if i != "csrf_token")
    return sorted(i for i, n in counts.items() if n > 1)


def _second_number(client, member) -> str:
    """A number that is not a login yet: the page then offers Add a secondary user too."""
    number = unique_number()
    r = post(
        client,
        f"/admin/accounts/{member.account_id}/numbers",
        {"number": number},
        token_from=f"/admin/accounts/{member.account_id}",
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return number


def test_admin_account_page_has_unique_ids_even_with_two_number_fields(as_admin, make_member):
    """Add number and Add user both have a "number" field: one id each, each label reaching
    its own input."""
    member = make_member()
    _second_number(as_admin, member)
    html = page(as_admin, f"/admin/accounts/{member.account_id}")
    assert 'id="user-form"' in html
    assert _duplicate_ids(html) == []


def test_admin_account_page_errors_of_one_form_point_at_its_own_field(as_admin, make_member):
    member = make_member()
    _second_number(as_admin, member)
    r = post(
        as_admin,
        f"/admin/accounts/{member.account_id}/users",
        {"number": "12", "password": "short1", "email": "x"},
        token_from=f"/admin/accounts/{member.account_id}",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 400, html[:400]
    assert _duplicate_ids(html) == []
    tag = re.search(r'<input[^>]*\bid="user-email"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in tag and "user-email-error-1" in tag, tag
    assert re.search(r'<label for="user-email">', html)
    assert 'href="#user-email"' in html  # the summary's link reaches this form's field
    # one submit: the unknown number, the weak password and the bad email, each beside its field
    assert _field_errors(html, "user-number") == ["Choose one of this account's virtual numbers."]
    assert _field_errors(html, "user-password") and "10 characters" in _field_errors(html, "user-password")[0]
    assert len(_field_errors(html, "user-email")) == 1
    number_tag = re.search(r'<input[^>]*\bid="new-number"[^>]*>', html).group(0)
    assert "aria-invalid" not in number_tag


def test_vouchers_show_a_bad_amount_and_a_past_expiry_at_once(as_admin, factory):
    with factory() as s:
        before = s.scalar(select(func.count()).select_from(Voucher))
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    r = post(
        as_admin,
        "/admin/vouchers/new",
        {"count": "2", "amount": "abc", "expires_on": yesterday},
        token_from="/admin/vouchers/",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert _field_errors(html, "amount") and "in dollars" in _field_errors(html, "amount")[0]
    assert _field_errors(html, "expires_on") == ["The expiry date is a date after today."]
    assert 'href="#amount"' in html and 'href="#expires_on"' in html  # the summary links both
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Voucher)) == before


def test_plans_show_a_taken_name_beside_a_bad_price_in_one_submit(as_admin, admin, factory):
    name = f"Plan {time.time_ns()}"
    with transaction(factory) as s:
        s.add(
            CallingPlan(
                name=name, regional_minutes=10, us_canada_minutes=10, monthly_price="5.00", active=True
            )
        )
    r = post(
        as_admin,
        "/admin/plans/new",
        {"name": name, "regional_minutes": "10", "us_canada_minutes": "-1", "monthly_price": "5.00"},
        token_from="/admin/plans/",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert _field_errors(html, "us_canada_minutes")
    assert any("already a plan named" in m for m in _field_errors(html, "name")), _field_errors(html, "name")
    with factory() as s:
        assert s.scalar(select(func.count()).where(CallingPlan.name == name)) == 1


def test_a_new_did_with_a_bad_number_and_an_unknown_account_shows_both(as_admin, factory):
    r = post(
        as_admin,
        "/admin/dids/new",
        {"number": "12ab", "account_id": "2000000000"},
        token_from="/admin/dids/",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert _field_errors(html, "number") == ["A DID is 4 to 15 digits."]
    assert _field_errors(html, "account_id") == ["There is no account 2000000000."]
    with factory() as s:
        assert s.scalar(select(func.count()).where(Did.number == "12ab")) == 0


def test_the_service_still_refuses_one_did_at_a_time_for_callers_without_a_form(factory, admin):
    number = unique_number("1555")
    with transaction(factory) as s:
        from db.models import User

        did = admin_services.create_did(s, s.get(User, admin), number, None, remote_addr="192.0.2.7")
        assert did.number == number


def test_a_rate_deck_import_leaves_no_audit_row_without_actor_and_address(as_admin, admin, factory):
    with factory() as s:
        last = s.scalar(select(func.max(AuditLog.id))) or 0
    text = "prefix,destination,country,rate_per_minute\n1,US,US,0.01\n"
    r = _upload(as_admin, f"audit-{time.time_ns()}", text, activate=False)
    assert r.status_code == 302
    address = as_admin.environ_base["REMOTE_ADDR"]
    with factory() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.id > last).order_by(AuditLog.id)))
    mine = [r for r in rows if r.object_type == "rate_decks"]
    assert mine, [r.action for r in rows]
    assert [(r.action, r.actor_user_id, r.remote_addr) for r in mine] == [
        (r.action, admin, address) for r in mine
    ]


def _summary_targets(html: str) -> list[str]:
    summary = re.search(r'<div class="form-error-summary".*?</div>', html, re.S)
    assert summary, "no error summary"
    return re.findall(r'<a href="#([^"]+)"', summary.group(0))


def test_every_error_summary_link_reaches_one_focusable_input(client, make_member, factory):
    """A radio group's or a checkbox list's errors link to its first option (the group's own
    id is on no element, or on a <ul> that cannot take the focus); every link reaches exactly
    one element of the page."""
    from .conftest import errors_in, post_form, sign_in
    from .test_dids import US_ADDRESS

    member = make_member()
    with transaction(factory) as s:
        did = Did(
            account_id=member.account_id,
            number=unique_number("1555"),
            connection="virtual_number",
            virtual_number_id=member.virtual_number_id,
        )
        s.add(did)
        s.flush()
        did_id = did.id
    sign_in(client, member)
    data = {k: v for k, v in US_ADDRESS.items() if k != "in_us_ca"}
    r = post_form(client, f"/dids/{did_id}/911", {**data, "postal_code": "ABC"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400, errors_in(r)
    targets = _summary_targets(html)
    assert "in_us_ca-0" in targets, targets
    for target in targets:
        tags = re.findall(rf'<(\w+)[^>]*\bid="{re.escape(target)}"', html)
        assert tags in (["input"], ["select"], ["textarea"]), (target, tags)


def test_no_member_or_admin_page_repeats_an_element_id(client, make_member, as_admin):
    """Labels, aria-describedby and the summary's links resolve by id: each page's ids are
    unique (the CSRF token's hidden inputs aside). Every page the navigation links to."""
    from .conftest import sign_in

    member = make_member()
    checked = {}
    for who, home in (("admin", "/admin/"), ("member", "/")):
        if who == "member":
            sign_in(client, member)
        html = page(client, home)
        links = sorted(set(re.findall(r'<a [^>]*href="(/[^"#?]*)"', html)))
        for url in links:
            if url.startswith(("/logout", "/static")) or (who == "member" and url.startswith("/admin")):
                continue
            response = client.get(url)
            if response.status_code != 200 or "text/html" not in response.content_type:
                continue
            checked[url] = _duplicate_ids(response.get_data(as_text=True))
    assert len([u for u in checked if u.startswith("/admin/")]) > 10, sorted(checked)
    assert len([u for u in checked if not u.startswith("/admin/")]) > 10, sorted(checked)
    assert {url: dups for url, dups in checked.items() if dups} == {}


def test_money_by_hand_shows_a_bad_amount_and_a_missing_reason_at_once(as_admin, make_member, factory):
    from db.models import AccountAdjustment

    member = make_member()
    url = f"/admin/accounts/{member.account_id}"
    r = post(as_admin, f"{url}/money", {"kind": "credit", "amount": "abc", "reason": ""}, token_from=url)
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert _field_errors(html, "amount") and _field_errors(html, "reason") == ["A reason is required."]
    with factory() as s:
        assert s.scalar(select(func.count()).where(AccountAdjustment.account_id == member.account_id)) == 0


def test_subscribe_shows_the_plan_the_date_and_the_number_at_once(as_admin, make_member, factory):
    """Also an out-of-range plan id: a message beside the field, not a database refusal."""
    from db.models import PlanSubscription

    member = make_member()
    with transaction(factory) as s:  # the form shows when there is an active plan
        s.add(
            CallingPlan(
                name=f"Sub {time.time_ns()}",
                regional_minutes=1,
                us_canada_minutes=1,
                monthly_price="1.00",
                active=True,
            )
        )
    url = f"/admin/accounts/{member.account_id}"
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
    r = post(
        as_admin,
        f"{url}/subscriptions",
        {"plan_id": "99999999999", "renew_date": yesterday, "enabled_number": "12"},
        token_from=url,
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert _field_errors(html, "plan_id") == ["Choose an active calling plan."]
    assert _field_errors(html, "renew_date") == ["The renew date is a date after today."]
    assert _field_errors(html, "enabled_number") == [
        "Choose one of this account's virtual numbers as the enabled phone."
    ]
    with factory() as s:
        assert s.scalar(select(func.count()).where(PlanSubscription.account_id == member.account_id)) == 0
