"""Flask test client against the real PostgreSQL test database (tests/conftest.py).

CSRF stays ON in these tests: every POST carries the token scraped from the page, as a
browser's would, so a test that forgets it fails like a forged request would.
"""

from __future__ import annotations

import itertools
import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import BytecodeCache

from db import accounts
from db.session import transaction
from tests.support.members import PANEL_PASSWORD, Member
from tests.support.members import make_panel_member as make_panel_member  # the make_member fixture
from tests.support.panel import sign_in_user
from tests.support.realparts import unique_number
from webpanel import create_app

PASSWORD = PANEL_PASSWORD  # the members' password (tests import it from here)
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class _MemoryBytecodeCache(BytecodeCache):
    """Compiled templates shared by the apps of this run: each test gets a fresh app, and
    compiling every template again for each one would cost more than the test itself. The
    bucket key includes the template source's checksum, so an edited template recompiles."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _MemoryBytecodeCache()


@pytest.fixture()
def app(database, engine) -> Flask:
    app = create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine})
    app.jinja_env.bytecode_cache = _TEMPLATES
    return app


_ADDRESSES = itertools.count(1)


def next_address() -> str:
    """A client address of its own (TEST-NET-2/3 style, 10.x here): the panel limits failed
    logins per address (webpanel/auth/services.py), so tests do not share one budget."""
    n = next(_ADDRESSES)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@pytest.fixture()
def client(app) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = next_address()
    return client


@pytest.fixture()
def make_secondary(factory, database):
    """A second virtual number on `member`'s account, with its own secondary-user login."""

    def make(member: Member, password: str = PASSWORD) -> Member:
        from db.models import Account

        with transaction(factory) as s:
            account = s.get_one(Account, member.account_id)
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


@pytest.fixture(scope="session", autouse=True)
def _hash_each_test_password_once():
    """argon2 costs ~150 ms a hash and the fixtures hash the same few passwords for every
    member they create. Each distinct password is hashed once (a real argon2 hash, only the
    salt is shared); verifying, and every password a test changes to, stays real."""
    import functools

    from controller.rules import secrets

    real = secrets.hash_password
    cached = functools.lru_cache(maxsize=64)(real)
    secrets.hash_password = cached
    try:
        yield
    finally:
        secrets.hash_password = real


def sign_in(client: FlaskClient, member: Member) -> None:
    """Start a logged-in session without the login form (its argon2 check costs ~150 ms;
    tests/web/test_auth.py covers the form). Same session keys as access.login_session."""
    sign_in_user(client, member.user_id)


def post_form(client: FlaskClient, url: str, data: dict, token_from: str = "/"):
    """POST with the CSRF token a browser would have (scraped from a page of the session)."""
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **data})


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def errors_in(response) -> list[str]:
    """The messages shown next to fields and at the top of a refused form, unescaped."""
    html = response.get_data(as_text=True)
    found = re.findall(r'<p class="field-message"[^>]*>([^<]*)</p>', html)
    for block in re.findall(r'<div class="form-errors" role="alert">(.*?)</div>', html, re.S):
        found += re.findall(r"<p>([^<]*)</p>", block)
    return [unescape(m) for m in found]
