"""Server-side panel sessions (issue 13, item 4): logout, a password change, the absolute
lifetime and the idle timeout end a session for good, even for someone who kept the cookie."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from db.models import PanelSession, User
from db.session import transaction
from tests.support.panel import sign_in_user
from webpanel import create_app
from webpanel.auth import sessions

from .conftest import PASSWORD, log_in, log_out, next_address, post_form

COOKIE = "voip_panel"


def _cookie(client) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _rows(factory, user_id: int) -> list[PanelSession]:
    with factory() as s:
        return list(
            s.scalars(
                select(PanelSession).where(PanelSession.user_id == user_id).order_by(PanelSession.created_at)
            )
        )


def test_a_cookie_saved_before_logout_no_longer_opens_pages(client, make_member, factory):
    member = make_member()
    assert log_in(client, member.login, member.password).status_code == 302
    assert client.get("/").status_code == 200
    saved = _cookie(client)  # what an attacker (or a shared computer) kept

    assert log_out(client).status_code == 302
    client.set_cookie(COOKIE, saved)  # the old cookie, put back
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/account/").status_code == 302
    [row] = _rows(factory, member.user_id)
    assert row.revoked_at is not None


def test_the_cookie_carries_a_token_whose_digest_only_is_stored(client, make_member, factory):
    member = make_member()
    log_in(client, member.login, member.password)
    with client.session_transaction() as sess:
        token = sess["sid"]
    [row] = _rows(factory, member.user_id)
    assert len(token) >= 43 and row.token_hash == sessions.token_hash(token) and token not in row.token_hash
    assert row.remote_addr == client.environ_base["REMOTE_ADDR"]
    assert row.revoked_at is None and row.created_at == row.last_seen_at


def test_a_user_id_in_a_cookie_without_a_session_row_opens_nothing(client, make_member):
    """A forged or pre-upgrade cookie (user id and version, no session token) is refused."""
    from webpanel import access

    member = make_member()
    with client.session_transaction() as sess:
        sess[access.SESSION_USER_ID], sess[access.SESSION_VERSION] = member.user_id, 0
    assert client.get("/").status_code == 302
    with client.session_transaction() as sess:
        sess[access.SESSION_USER_ID], sess[access.SESSION_VERSION] = member.user_id, 0
        sess[access.SESSION_TOKEN] = "made-up-token"
    assert client.get("/").status_code == 302


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, make_member, factory):
    member = make_member()
    here, other, third = app.test_client(), app.test_client(), app.test_client()
    for c in (here, other, third):
        c.environ_base["REMOTE_ADDR"] = next_address()
        assert log_in(c, member.login, member.password).status_code == 302
    other_saved = _cookie(other)

    new = "Brand-new-pass-2027"
    response = post_form(
        here,
        "/password/",
        {"old_password": PASSWORD, "new_password": new, "retype": new},
        token_from="/password/",
    )
    assert response.status_code == 302
    assert here.get("/").status_code == 200  # this session goes on
    assert other.get("/").status_code == 302
    third.set_cookie(COOKIE, other_saved)
    assert third.get("/").status_code == 302
    rows = _rows(factory, member.user_id)
    assert sum(r.revoked_at is None for r in rows) == 1  # the other two rows are revoked


def test_sessions_end_after_their_absolute_lifetime_however_active(client, make_member, factory):
    member = make_member()
    log_in(client, member.login, member.password)
    assert client.get("/").status_code == 200
    with transaction(factory) as s:  # logged in 12 hours and a minute ago, active until now
        s.execute(
            update(PanelSession)
            .where(PanelSession.user_id == member.user_id)
            .values(created_at=PanelSession.created_at - dt.timedelta(hours=12, minutes=1))
        )
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_absolute_lifetime_is_a_setting(database, engine, make_member):
    settings = dataclasses.replace(database, panel_session_hours=1)
    client = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine}).test_client()
    client.environ_base["REMOTE_ADDR"] = next_address()
    member = make_member()
    sign_in_user(client, member.user_id)
    assert client.get("/").status_code == 200
    with transaction(engine_factory(engine)) as s:
        s.execute(
            update(PanelSession)
            .where(PanelSession.user_id == member.user_id)
            .values(created_at=PanelSession.created_at - dt.timedelta(minutes=61))
        )
    assert client.get("/").status_code == 302


def test_a_session_idle_longer_than_the_timeout_ends_server_side(client, make_member, factory):
    """Even with a freshly signed cookie (the cookie's own 30-minute expiry aside)."""
    member = make_member()
    log_in(client, member.login, member.password)
    with transaction(factory) as s:
        s.execute(
            update(PanelSession)
            .where(PanelSession.user_id == member.user_id)
            .values(last_seen_at=PanelSession.last_seen_at - dt.timedelta(minutes=31))
        )
    assert client.get("/").status_code == 302


def test_last_seen_is_written_at_most_once_a_minute(client, make_member, factory):
    member = make_member()
    log_in(client, member.login, member.password)
    [before] = _rows(factory, member.user_id)
    client.get("/")
    client.get("/")
    [same] = _rows(factory, member.user_id)
    assert same.last_seen_at == before.last_seen_at  # no write on every page
    with transaction(factory) as s:
        s.execute(
            update(PanelSession)
            .where(PanelSession.user_id == member.user_id)
            .values(last_seen_at=PanelSession.last_seen_at - dt.timedelta(minutes=2))
        )
    assert client.get("/").status_code == 200
    [after] = _rows(factory, member.user_id)
    assert after.last_seen_at > before.last_seen_at


def test_revoke_all_is_what_an_operator_uses_to_end_every_session(client, make_member, factory):
    member = make_member()
    log_in(client, member.login, member.password)
    with transaction(factory) as s:
        assert sessions.revoke_all(s, member.user_id) == 1
    assert client.get("/").status_code == 302


def test_an_operators_password_reset_ends_every_session_and_lifts_the_login_limits(
    client, make_member, factory
):
    from db import accounts
    from db.models import Lockout
    from webpanel.admin import services as admin_services
    from webpanel.auth import services as auth_services

    member = make_member()
    log_in(client, member.login, member.password)
    with transaction(factory) as s:
        auth_services.attempt_login(s, member.login, "guess-1", remote_addr="192.0.2.77")
        admin = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026")
    with transaction(factory) as s:
        admin_services.reset_password(
            s, s.get_one(User, admin.id), s.get_one(User, member.user_id), "Operator-gave-2027"
        )
    assert client.get("/").status_code == 302
    assert all(r.revoked_at is not None for r in _rows(factory, member.user_id))
    with factory() as s:
        key = auth_services.lockout_key(member.login)
        assert s.get(Lockout, (auth_services.KIND_LOGIN, key)) is None
        assert (
            s.get(Lockout, (auth_services.KIND_PAIR, auth_services.pair_key(member.login, "192.0.2.77")))
            is None
        )


def test_the_session_check_costs_one_query(client, make_member, engine):
    """One SELECT by primary key (panel_sessions joined to users and accounts) per page."""
    from sqlalchemy import event

    member = make_member()
    log_in(client, member.login, member.password)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        client.get("/password/")  # a page that reads nothing else from the database
    finally:
        event.remove(engine, "before_cursor_execute", record)
    session_reads = [st for st in statements if "panel_sessions" in st]
    assert len(session_reads) == 1 and "JOIN users" in session_reads[0]
    assert not [st for st in statements if st.lstrip().upper().startswith(("UPDATE", "INSERT"))]

    started = time.perf_counter()
    for _ in range(50):
        assert client.get("/password/").status_code == 200
    per_page = (time.perf_counter() - started) / 50
    print(f"\n/password/ with the session check: {per_page * 1000:.2f} ms a page")

    with client.session_transaction() as sess:
        token = sess["sid"]
    limits = sessions.Limits(lifetime=dt.timedelta(hours=12), idle=dt.timedelta(minutes=30))
    with engine_factory(engine)() as s:
        started = time.perf_counter()
        for _ in range(200):
            user, _touch, _extra = sessions.load(s, token, member.user_id, limits)
            assert user is not None
            s.expunge_all()
        per_check = (time.perf_counter() - started) / 200
        started = time.perf_counter()
        for _ in range(200):  # what the check was before issue 13: the user by id, no session row
            assert s.get(User, member.user_id, options=[joinedload(User.account)]) is not None
            s.expunge_all()
        before = (time.perf_counter() - started) / 200
    print(
        f"the session check (one query, ORM included): {per_check * 1e6:.0f} µs; the user lookup alone: {before * 1e6:.0f} µs"
    )


def engine_factory(engine):
    from db.session import session_factory

    return session_factory(engine)


def test_a_login_drops_the_users_session_rows_older_than_the_known_address_window(
    client, make_member, factory
):
    """panel_sessions grows with the users, not with every login they ever made."""
    member = make_member()
    log_in(client, member.login, member.password)
    log_out(client)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=sessions.KNOWN_ADDRESS_DAYS + 1)
    with transaction(factory) as s:
        s.execute(update(PanelSession).where(PanelSession.user_id == member.user_id).values(created_at=old))
    log_in(client, member.login, member.password)
    rows = _rows(factory, member.user_id)
    assert len(rows) == 1 and rows[0].created_at > old and rows[0].revoked_at is None
