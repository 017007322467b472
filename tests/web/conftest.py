"""Flask test client against the real PostgreSQL test database (tests/conftest.py).

CSRF stays ON in these tests: every POST carries the token scraped from the page, as a
browser's would, so a test that forgets it fails like a forged request would.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.realparts import unique_number
from db import accounts
from db.session import transaction
from webpanel import create_app

PASSWORD = "Panel-pass-2026"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Member:
    account_id: int
    user_id: int
    virtual_number_id: int
    number: str
    login: str
    password: str


@pytest.fixture()
def app(database, engine) -> Flask:
    return create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine})


@pytest.fixture()
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def make_member(factory, database):
    """A committed account with its primary holder (logs in with the first virtual number)."""
    def make(password: str = PASSWORD, **fields) -> Member:
        number = unique_number()
        with transaction(factory) as s:
            account, user, vn = accounts.create_account(
                s, login_number=number, password=password, first_name="Test", last_name="Member",
                realm=database.sip_realm, **fields)
        return Member(account.id, user.id, vn.id, vn.number, user.login, password)
    return make


@pytest.fixture()
def make_secondary(factory, database):
    """A second virtual number on `member`'s account, with its own secondary-user login."""
    def make(member: Member, password: str = PASSWORD) -> Member:
        from db.models import Account
        with transaction(factory) as s:
            account = s.get(Account, member.account_id)
            vn = accounts.add_virtual_number(s, account, unique_number(), realm=database.sip_realm)
            user = accounts.add_secondary_user(s, vn, password)
        return Member(member.account_id, user.id, vn.id, vn.number, user.login, password)
    return make


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client: FlaskClient, login: str, password: str, next_url: str | None = None):
    token = csrf_token(client)
    url = "/login" if next_url is None else f"/login?next={next_url}"
    return client.post(url, data={"csrf_token": token, "login": login, "password": password})


def log_out(client: FlaskClient):
    token = csrf_token(client, "/")
    return client.post("/logout", data={"csrf_token": token})


def flashes(response) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+">([^<]*)</p>', response.get_data(as_text=True))
