"""Login, lockout, logout and session lifetime of the web panel."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select, update

from db import accounts
from db.models import Account, Lockout, PanelSession, User
from db.session import transaction
from webpanel import access
from webpanel.auth import services

from .conftest import csrf_token, flashes, log_in, log_out

LOCKED = "Too many failed login attempts"
INCORRECT = "The virtual number or password is incorrect."


def _user(factory, user_id: int) -> User:
    with factory() as s:
        return s.get(User, user_id)


def test_login_with_virtual_number_and_password_opens_the_dashboard(client, make_member):
    member = make_member()
    response = log_in(client, member.login, member.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert member.number in page.get_data(as_text=True)


def test_login_tolerates_spaces_around_the_virtual_number(client, make_member):
    member = make_member()
    assert log_in(client, f"  {member.login} ", member.password).status_code == 302


def test_wrong_password_is_refused_and_counted_in_failed_logins(client, make_member, factory):
    member = make_member()
    response = log_in(client, member.login, "not-the-password")
    assert response.status_code == 200
    assert flashes(response) == [INCORRECT]
    assert client.get("/").status_code == 302  # still not logged in
    assert _user(factory, member.user_id).failed_logins == 1


def test_unknown_login_gets_the_same_answer_as_a_wrong_password(client, make_member):
    member = make_member()
    wrong_password = log_in(client, member.login, "not-the-password")
    unknown_login = log_in(client, "19999999999", "not-the-password")
    assert flashes(wrong_password) == flashes(unknown_login) == [INCORRECT]
    assert wrong_password.status_code == unknown_login.status_code


def test_fifth_failure_locks_the_login_from_that_address_even_against_the_right_password(
    client, make_member, factory
):
    member = make_member()
    answers = [flashes(log_in(client, member.login, f"wrong-{i}")) for i in range(5)]
    assert answers[:4] == [[INCORRECT]] * 4
    assert LOCKED in answers[4][0] and "15 minutes" in answers[4][0]

    right = log_in(client, member.login, member.password)
    assert right.status_code == 429
    assert LOCKED in flashes(right)[0]
    assert client.get("/").status_code == 302

    user = _user(factory, member.user_id)
    assert user.failed_logins == 5  # shown on the operator's account page
    with factory() as s:
        pair = s.get(Lockout, (services.KIND_PAIR, services.pair_key(member.login, _address(client))))
    assert pair.failures == 6  # the refused attempt was counted too, before any password check
    assert dt.datetime.now(dt.UTC) - pair.first_failure_at < dt.timedelta(minutes=1)


def test_unknown_login_locks_after_five_failures_exactly_like_a_real_one(client, make_member, factory):
    member = make_member()
    unknown = "18885550000" + member.number[-4:]
    real_answers = [
        (r.status_code, flashes(r)) for r in (log_in(client, member.login, "wrong") for _ in range(6))
    ]
    unknown_answers = [
        (r.status_code, flashes(r)) for r in (log_in(client, unknown, "wrong") for _ in range(6))
    ]
    assert real_answers == unknown_answers
    assert real_answers[-1][0] == 429
    with factory() as s:
        row = s.get(Lockout, (services.LOCKOUT_KIND, services.lockout_key(unknown)))
        pair = s.get(Lockout, (services.KIND_PAIR, services.pair_key(unknown, _address(client))))
    assert row.failures == pair.failures == 6
    assert unknown not in row.key and unknown not in pair.key  # keyed by hashes, never what was typed


def _age_counters(factory, minutes: int) -> None:
    with transaction(factory) as s:
        s.execute(
            update(Lockout)
            .where(Lockout.kind.in_((services.KIND_PAIR, services.KIND_LOGIN, services.KIND_ADDRESS)))
            .values(first_failure_at=Lockout.first_failure_at - dt.timedelta(minutes=minutes))
        )


def test_lock_ends_with_its_window_and_the_right_password_resets_the_count(client, make_member, factory):
    member = make_member()
    for i in range(5):
        log_in(client, member.login, f"wrong-{i}")
    assert log_in(client, member.login, member.password).status_code == 429
    _age_counters(factory, 16)  # the 15-minute window is over
    assert log_in(client, member.login, member.password).status_code == 302
    user = _user(factory, member.user_id)
    assert user.failed_logins == 0 and user.locked_until is None
    assert user.last_login_at is not None
    with factory() as s:
        pair = s.get(Lockout, (services.KIND_PAIR, services.pair_key(member.login, _address(client))))
    assert pair.failures == 0  # a right password starts this address's count on this login again


def test_a_new_window_starts_a_fresh_count_of_failures(make_member, factory):
    member = make_member()
    for i in range(5):
        with transaction(factory) as s:
            services.attempt_login(s, member.login, f"wrong-{i}", remote_addr="192.0.2.9")
    _age_counters(factory, 16)
    with transaction(factory) as s:
        result = services.attempt_login(s, member.login, "wrong", remote_addr="192.0.2.9")
    assert result.outcome is services.Outcome.INVALID and result.password_checked
    assert _user(factory, member.user_id).failed_logins == 1


def test_login_post_without_csrf_token_is_rejected_and_not_even_counted(client, make_member, factory):
    member = make_member()
    response = client.post("/login", data={"login": member.login, "password": member.password})
    assert response.status_code == 400
    assert client.get("/").status_code == 302
    assert _user(factory, member.user_id).failed_logins == 0


def test_login_post_with_a_forged_csrf_token_is_rejected(client, make_member):
    member = make_member()
    csrf_token(client)  # a session exists, but the token sent is not its token
    response = client.post(
        "/login", data={"csrf_token": "forged", "login": member.login, "password": member.password}
    )
    assert response.status_code == 400


def test_logout_ends_the_session(client, make_member):
    member = make_member()
    log_in(client, member.login, member.password)
    response = log_out(client)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


def test_logout_needs_a_post_with_the_csrf_token(client, make_member):
    member = make_member()
    log_in(client, member.login, member.password)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # neither request logged the member out


def test_bumped_session_version_logs_the_user_out(client, make_member, factory):
    member = make_member()
    log_in(client, member.login, member.password)
    assert client.get("/").status_code == 200
    with transaction(factory) as s:  # what a password change or reset does
        s.execute(
            update(User).where(User.id == member.user_id).values(session_version=User.session_version + 1)
        )
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/").status_code == 302  # the stale session is gone for good


def test_suspended_account_ends_an_open_session_and_cannot_log_in(client, make_member, factory):
    member = make_member()
    log_in(client, member.login, member.password)
    with transaction(factory) as s:
        s.execute(update(Account).where(Account.id == member.account_id).values(status="suspended"))
    assert client.get("/").status_code == 302
    response = log_in(client, member.login, member.password)
    assert response.status_code == 200
    assert "not active" in flashes(response)[0]


def test_session_idle_longer_than_30_minutes_is_refused(app, client, make_member, monkeypatch):
    member = make_member()
    log_in(client, member.login, member.password)
    with client.session_transaction() as sess:
        data = dict(sess)
    serializer = app.session_interface.get_signing_serializer(app)

    fresh = serializer.dumps(data)
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], fresh)
    assert client.get("/").status_code == 200

    signed_31_minutes_ago = int(time.time()) - 31 * 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_31_minutes_ago)
    stale = serializer.dumps(data)
    monkeypatch.undo()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], stale)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def _session_cookies(response, app) -> list[str]:
    name = app.config["SESSION_COOKIE_NAME"] + "="
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name)]


def test_session_cookie_slides_with_the_sessions_last_seen_time(client, make_member, app, factory):
    """The cookie is re-signed (a sliding 30-minute expiry) when last_seen_at is written, at
    most once a minute, not on every page (issue 16: the signing is CPU on every request)."""
    member = make_member()
    log_in(client, member.login, member.password)
    client.get("/")  # the first page after login adds the session's CSRF token: a new cookie
    assert _session_cookies(client.get("/"), app) == []  # seen less than a minute ago
    with transaction(factory) as s:
        s.execute(
            update(PanelSession)
            .where(PanelSession.user_id == member.user_id)
            .values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
        )
    (cookie,) = _session_cookies(client.get("/"), app)
    assert "Expires=" in cookie
    assert client.get("/").status_code == 200  # the re-signed cookie still opens pages


def test_a_verified_session_cookie_kept_in_memory_still_expires(client, make_member, monkeypatch):
    """webpanel.access keeps a cookie it verified (issue 16, CPU): past the idle lifetime since
    it was signed, that same cookie opens no page, as Flask's own check would refuse it."""
    member = make_member()
    log_in(client, member.login, member.password)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200  # the same cookie, opened from memory
    later = time.time() + 31 * 60
    monkeypatch.setattr(access.time, "time", lambda: later)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_anonymous_visit_to_a_member_page_goes_to_login_and_back(client, make_member):
    member = make_member()
    response = client.get("/registered-users/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/registered-users/"
    back = log_in(client, member.login, member.password, next_url="/registered-users/")
    assert back.headers["Location"] == "/registered-users/"


@pytest.mark.parametrize(
    "next_url", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_off_site(client, make_member, next_url):
    member = make_member()
    response = log_in(client, member.login, member.password, next_url=next_url)
    assert response.headers["Location"] == "/"


def test_admin_logs_in_with_a_username_but_gets_no_member_pages(client, factory):
    login = "admin-" + str(time.time_ns())
    with transaction(factory) as s:
        accounts.create_admin(s, login, "Admin-pass-2026")
    assert log_in(client, login, "Admin-pass-2026").status_code == 302
    assert "operator admin" in client.get("/").get_data(as_text=True)
    assert client.get("/registered-users/").status_code == 403


def test_successful_and_failed_logins_are_audited_without_the_password(client, make_member, factory):
    from db.models import AuditLog

    member = make_member()
    log_in(client, member.login, "Wrong-secret-1")
    log_in(client, member.login, member.password)
    with factory() as s:
        rows = s.scalars(
            select(AuditLog).where(AuditLog.actor_user_id == member.user_id).order_by(AuditLog.id)
        ).all()
    assert [r.action for r in rows] == ["auth.login_failed", "auth.login"]
    assert all("Wrong-secret-1" not in str(r.details) and member.password not in str(r.details) for r in rows)


def test_concurrent_wrong_guesses_are_all_counted_and_lock_the_login(make_member, factory):
    """Eight guesses at once from one address: each takes its number in one atomic statement
    before its password is checked, so exactly five passwords are checked."""
    from concurrent.futures import ThreadPoolExecutor

    member = make_member()

    def guess(i: int) -> services.LoginResult:
        with transaction(factory) as s:
            return services.attempt_login(s, member.login, f"wrong-{i}", remote_addr="192.0.2.8")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(guess, range(8)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(services.Outcome.INVALID) == 4
    assert outcomes.count(services.Outcome.LOCKED) == 4
    assert sum(r.password_checked for r in results) == 5
    assert _user(factory, member.user_id).failed_logins == 5


def _address(client) -> str:
    return client.environ_base["REMOTE_ADDR"]
