"""The operator admin's Service Numbers page: the platform's own numbers in one list (the
install's conference, calling card and voicemail numbers from the start), a number added with
its dialplan target, a target and description changed, a number disabled; bad input gets a
clear message and changes nothing; every change is in the audit log. Members never reach it."""

from __future__ import annotations

import time
from html import unescape

import pytest
from sqlalchemy import delete, select

from db import accounts
from db.models import AuditLog, ServiceNumber
from db.session import transaction
from tests.support.realparts import unique_number

from .conftest import csrf_token, errors_in, sign_in, sign_in_user

URL = "/admin/service-numbers/"


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)  # issue 13: a server-side session row
    return client


@pytest.fixture()
def number(factory):
    """A number this test adds, removed afterwards (the page lists every row)."""
    n = unique_number("1555")
    yield n
    with transaction(factory) as s:
        s.execute(delete(ServiceNumber).where(ServiceNumber.number == n))


def post(client, url, data):
    return client.post(url, data={"csrf_token": csrf_token(client, URL), **data})


def row(factory, number) -> ServiceNumber | None:
    with factory() as s:
        return s.scalar(select(ServiceNumber).where(ServiceNumber.number == number))


def test_the_page_lists_the_installs_service_numbers(as_admin, settings):
    response = as_admin.get(URL)
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    for numbers in (
        settings.conference_numbers,
        settings.conference_tollfree_numbers,
        settings.callingcard_numbers,
        settings.voicemail_numbers,
    ):
        first = numbers.split(",")[0].strip()
        assert first in html and f"incoming,{first},1" in html
    for label in ("Conference", "Calling card", "Voicemail"):
        assert label in html
    assert 'href="/admin/service-numbers/"' in as_admin.get("/admin/").get_data(as_text=True)  # in the nav


def test_add_a_number_with_its_target_then_change_and_disable_it(as_admin, admin, factory, number):
    response = post(
        as_admin,
        URL + "new",
        {"number": number, "service": "other", "target": "admin-echo,s,1", "description": "Echo test"},
    )
    assert response.status_code == 302, errors_in(response)
    added = row(factory, number)
    assert (added.service, added.target, added.description, added.enabled) == (
        "other",
        "admin-echo,s,1",
        "Echo test",
        True,
    )

    response = post(
        as_admin,
        f"{URL}{added.id}",
        {"target": "admin-echo,s,2", "description": "Echo test, second step"},  # unchecked: disabled
    )
    assert response.status_code == 302, errors_in(response)
    changed = row(factory, number)
    assert (changed.target, changed.description, changed.enabled) == (
        "admin-echo,s,2",
        "Echo test, second step",
        False,
    )

    with factory() as s:
        actions = [
            (a.action, a.details)
            for a in s.scalars(
                select(AuditLog)
                .where(AuditLog.actor_user_id == admin, AuditLog.object_type == "service_numbers")
                .order_by(AuditLog.id)
            )
        ]
    assert actions == [
        ("admin.service_number_add", {"number": number, "service": "other", "target": "admin-echo,s,1"}),
        (
            "admin.service_number_update",
            {
                "number": number,
                "target": "admin-echo,s,2",
                "description": "Echo test, second step",
                "enabled": False,
            },
        ),
    ]


def test_a_built_in_service_number_without_a_target_goes_where_the_services_first_number_goes(
    as_admin, factory, settings, number
):
    response = post(as_admin, URL + "new", {"number": number, "service": "conference", "target": ""})
    assert response.status_code == 302, errors_in(response)
    first = settings.conference_numbers.split(",")[0].strip()
    assert row(factory, number).target == f"incoming,{first},1"


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"service": "other", "target": "dial-out,dial,1"},
            "A dialplan target is context,extension,priority",
        ),
        ({"service": "other", "target": ""}, "Enter the dialplan target."),
        (
            {"service": "other", "target": "admin-echo,s,1", "number": "12ab"},
            "A service number is 3 to 15 digits.",
        ),
        ({"service": "fax", "target": "admin-echo,s,1"}, "Not a valid choice"),
    ],
)
def test_bad_input_gets_a_clear_message_and_adds_nothing(as_admin, factory, number, data, message):
    response = post(as_admin, URL + "new", {"number": number, "description": "", **data})
    assert response.status_code == 400
    assert message in unescape(response.get_data(as_text=True))
    assert row(factory, number) is None


def test_an_existing_number_is_not_added_twice(as_admin, settings):
    first = settings.conference_numbers.split(",")[0].strip()
    response = post(as_admin, URL + "new", {"number": first, "service": "other", "target": "admin-echo,s,1"})
    assert response.status_code == 400
    assert f"Service number {first} already exists." in unescape(response.get_data(as_text=True))


def test_a_bad_target_changes_nothing(as_admin, factory, settings):
    first = settings.voicemail_numbers.split(",")[0].strip()
    before = row(factory, first)
    response = post(
        as_admin, f"{URL}{before.id}", {"target": "sim-pstn,1,1", "description": "x", "enabled": "y"}
    )
    assert response.status_code == 400
    assert "A dialplan target is context,extension,priority" in unescape(response.get_data(as_text=True))
    after = row(factory, first)
    assert (after.target, after.description) == (before.target, before.description)


def test_a_member_gets_403(client, make_member):
    member = make_member()
    sign_in(client, member)
    assert client.get(URL).status_code == 403
