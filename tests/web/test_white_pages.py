"""The help page's "White Pages": search by any field, online only, opt-in only, pages."""

from __future__ import annotations

import itertools
import re
import time
import uuid

import pytest

from db import accounts
from db.models import PsContact
from db.session import transaction
from tests.support.realparts import unique_number

from .conftest import PASSWORD, page, sign_in

_tags = itertools.count()


@pytest.fixture()
def listed(factory, database):
    """Members with `white_pages` on (unless listed=False), sharing a last name unique to the test."""
    family = f"Zq{uuid.uuid4().hex[:8]}"

    def make(
        first: str,
        *,
        listed: bool = True,
        city: str = "Springfield",
        state: str = "IL",
        country: str = "US",
        online: bool = False,
    ) -> str:
        number = unique_number()
        with transaction(factory) as s:
            _, _, vn = accounts.create_account(
                s,
                login_number=number,
                password=PASSWORD,
                first_name=first,
                last_name=family,
                realm=database.sip_realm,
                city=city,
                state=state,
                country=country,
            )
            accounts.update_options(s, vn, as_primary=True, white_pages=listed)
            if online:
                s.add(
                    PsContact(
                        id=f"{number};@{next(_tags)}",
                        endpoint=number,
                        uri=f"sip:{number}@192.0.2.1",
                        expiration_time=int(time.time()) + 600,
                        user_agent="Phone",
                    )
                )
        return number

    make.family = family
    return make


def _numbers(html: str) -> list[str]:
    return re.findall(r'<td data-label="Phone Number" class="number">(\d+)</td>', html)


def test_white_pages_lists_only_members_who_opted_in(client, make_member, listed):
    member = make_member()
    shown = listed("Ann")
    hidden = listed("Bob", listed=False)
    sign_in(client, member)
    html = page(client, f"/white-pages/?last_name={listed.family}")
    for label in (
        "Last Name",
        "First Name",
        "Phone Number",
        "City",
        "State",
        "Country",
        "Show only online users",
        "White Pages Report",
        "Records 1–1 of 1",
    ):
        assert label in html, label
    assert _numbers(html) == [shown] and hidden not in html


def test_white_pages_search_by_each_field(client, make_member, listed):
    member = make_member()
    ann = listed("Ann", city="Boston", state="MA")
    bea = listed("Bea", city="Toronto", state="ON", country="CA")
    sign_in(client, member)
    base = f"/white-pages/?last_name={listed.family[:6]}"  # a prefix of the last name
    assert set(_numbers(page(client, base))) >= {ann, bea}
    assert _numbers(page(client, f"{base}&first_name=an")) == [ann]  # case-insensitive prefix
    assert _numbers(page(client, f"{base}&city=Toro")) == [bea]
    assert _numbers(page(client, f"{base}&state=MA")) == [ann]
    assert _numbers(page(client, f"{base}&country=CA")) == [bea]
    assert _numbers(page(client, f"/white-pages/?phone={bea[-7:]}")) == [bea]


def test_show_only_online_users_needs_a_live_registration(client, make_member, listed):
    member = make_member()
    online = listed("On", online=True)
    listed("Off")
    sign_in(client, member)
    assert _numbers(page(client, f"/white-pages/?last_name={listed.family}&online=y")) == [online]


def test_wildcards_typed_in_a_search_are_taken_literally(client, make_member, listed):
    member = make_member()
    listed("Ann")
    sign_in(client, member)
    html = page(client, "/white-pages/?last_name=%25&first_name=_")
    assert "No member matches your search." in html


def test_white_pages_report_pages_with_records_counter(client, make_member, listed):
    member = make_member()
    numbers = [listed(f"P{i:02d}") for i in range(23)]
    sign_in(client, member)
    first = page(client, f"/white-pages/?last_name={listed.family}&sort=first_name")
    assert "Records 1–20 of 23" in first and "Page 1 of 2" in first
    assert _numbers(first) == numbers[:20]
    assert 'rel="next"' in first and 'rel="last"' in first and 'rel="prev"' not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = page(client, next_url)
    assert "Records 21–23 of 23" in second and _numbers(second) == numbers[20:]
    assert 'rel="prev"' in second and 'rel="first"' in second and 'rel="next"' not in second
    # a page past the end shows the last page
    assert "Records 21–23 of 23" in page(
        client, f"/white-pages/?last_name={listed.family}&sort=first_name&page=9"
    )


@pytest.mark.parametrize("query", ["sort=password_hash", "country=ZZ", "page=abc", "page=0"])
def test_white_pages_refuses_unknown_sort_and_filter_values(client, make_member, query):
    member = make_member()
    sign_in(client, member)
    response = client.get(f"/white-pages/?{query}")
    assert response.status_code == 400
    assert "White Pages Report" not in response.get_data(as_text=True)


@pytest.mark.parametrize("phone", ["abc", "312-55x-0100", "1%"])
def test_white_pages_refuses_a_phone_number_with_letters_next_to_the_field(client, make_member, phone):
    member = make_member()
    sign_in(client, member)
    response = client.get("/white-pages/", query_string={"phone": phone})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "White Pages Report" not in html
    message = re.search(r'<p class="field-message" id="phone-error-1">([^<]*)</p>', html)
    assert message and "A phone number has digits only" in message.group(1)
    assert re.search(r'<input[^>]*aria-describedby="phone-error-1"[^>]*id="phone"', html) or re.search(
        r'<input[^>]*id="phone"[^>]*aria-describedby="phone-error-1"', html
    )


def test_white_pages_accepts_a_phone_number_written_with_punctuation(client, make_member, listed):
    number = listed("Punct")
    member = make_member()
    sign_in(client, member)
    written = f"+{number[0]} ({number[1:4]}) {number[4:7]}-{number[7:]}"
    html = page(client, f"/white-pages/?last_name={listed.family}&phone={written.replace('+', '%2B')}")
    assert _numbers(html) == [number]
