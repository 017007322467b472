"""Panel login limits per source address and per login (issue 13, item 7).

One address cannot try logins without limit; a stranger hammering someone's login cannot lock
its owner out (another address still gets in; a login locked from everywhere still opens from
the owner's known address and through the owner's reset link); a concurrent burst gets no more
password checks than the limit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

from sqlalchemy import func, select

from db.models import AuditLog, PanelSession
from db.session import transaction
from webpanel import create_app
from webpanel.auth import recovery, services

from .conftest import csrf_token, flashes, log_in, next_address

INCORRECT = "The virtual number or password is incorrect."
LOCKED = "Too many failed login attempts"
FROM_YOUR_NETWORK = "Too many requests from your network"


def _app(database, engine, **limits):
    settings = dataclasses.replace(database, **limits)
    return create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})


def _client(app, address: str | None = None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address or next_address()
    return client


def _password_checks(factory, user_ids) -> int:
    """Every wrong password checked for a real login leaves an audit entry."""
    with factory() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(
                AuditLog.actor_user_id.in_(list(user_ids)),
                AuditLog.action.in_(("auth.login_failed", "auth.locked")),
            )
        )


def test_one_address_trying_many_logins_is_refused_after_its_budget(app, make_member):
    """20 failures on 20 different logins from one address: the 21st attempt, even with a right
    password, gets "too many requests from your network" and no password check."""
    attacker = _client(app)
    victim = make_member()
    answers = [flashes(log_in(attacker, f"1888555{i:04d}", "guess-1")) for i in range(19)]
    answers.append(flashes(log_in(attacker, victim.login, "guess-1")))
    assert answers[:19] == [[INCORRECT]] * 19
    assert FROM_YOUR_NETWORK in answers[19][0]

    refused = log_in(attacker, victim.login, victim.password)  # the right password, too late
    assert refused.status_code == 429 and FROM_YOUR_NETWORK in flashes(refused)[0]
    assert attacker.get("/").status_code == 302

    owner = _client(app)  # the member, from their own address
    assert log_in(owner, victim.login, victim.password).status_code == 302


def test_right_passwords_do_not_use_up_an_addresses_budget(app, make_member):
    """An office behind one address, with many members logging in right, is not refused."""
    office = next_address()
    for _ in range(25):
        member = make_member()
        client = _client(app, office)
        assert log_in(client, member.login, member.password).status_code == 302


def test_a_victims_login_hammered_from_one_address_still_opens_from_another(app, make_member):
    victim = make_member()
    attacker = _client(app)
    answers = [log_in(attacker, victim.login, f"guess-{i}") for i in range(10)]
    assert answers[-1].status_code == 429 and LOCKED in flashes(answers[-1])[0]
    assert log_in(attacker, victim.login, victim.password).status_code == 429  # that address: locked

    owner = _client(app)
    assert log_in(owner, victim.login, victim.password).status_code == 302
    assert owner.get("/").status_code == 200


def test_a_login_hammered_from_many_addresses_locks_but_its_owner_still_gets_in(
    database, engine, make_member, factory
):
    """Beyond the per-login total (all addresses) the login is locked, except from an address
    its owner used before; the owner's own reset link lifts the lock for every address."""
    app = _app(database, engine, panel_login_per_login_total=6)
    victim = make_member(email="victim.limits@example.test")
    home = next_address()
    assert log_in(_client(app, home), victim.login, victim.password).status_code == 302

    for i in range(6):  # a botnet: one guess from each of six addresses
        log_in(_client(app), victim.login, f"guess-{i}")
    stranger = _client(app)
    refused = log_in(stranger, victim.login, victim.password)
    assert refused.status_code == 429 and LOCKED in flashes(refused)[0]

    assert log_in(_client(app, home), victim.login, victim.password).status_code == 302  # known address

    travelling = _client(app)  # the owner on a new network: locked out, until their reset link
    assert log_in(travelling, victim.login, victim.password).status_code == 429
    with transaction(factory) as s:
        [link] = recovery.request_reset(
            s, victim.login, remote_addr="192.0.2.1", lifetime=dt.timedelta(minutes=30)
        )
    path = f"/password-reset/{link.token}"
    new = "After-the-attack-2027"
    token = csrf_token(travelling, path)
    done = travelling.post(path, data={"csrf_token": token, "new_password": new, "retype": new})
    assert done.status_code == 302
    assert log_in(travelling, victim.login, new).status_code == 302
    with factory() as s:  # the reset ended every older session, the one at home too
        rows = s.scalars(select(PanelSession).where(PanelSession.user_id == victim.user_id)).all()
    assert sum(r.revoked_at is None for r in rows) == 1
    assert travelling.get("/").status_code == 200


def _burst(clients, logins, password: str) -> list[list[str]]:
    """One wrong login per client, all sent at the same moment; the flashed answers."""
    tokens = [csrf_token(c) for c in clients]
    start = threading.Barrier(len(clients))
    answers: list[list[str]] = [[] for _ in clients]

    def send(i: int) -> None:
        start.wait()
        response = clients[i].post(
            "/login", data={"csrf_token": tokens[i], "login": logins[i], "password": password}
        )
        answers[i] = flashes(response)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


def test_a_concurrent_burst_from_one_address_gets_no_more_checks_than_its_budget(
    database, engine, make_member, factory
):
    """30 simultaneous wrong logins on 30 different logins from one address, budget 5: at most
    5 passwords are checked and at most 5 answers say "wrong password"."""
    app = _app(database, engine, panel_login_per_address=5)
    members = [make_member() for _ in range(30)]
    address = next_address()
    answers = _burst([_client(app, address) for _ in members], [m.login for m in members], "guess-1")

    wrong = sum(a == [INCORRECT] for a in answers)
    refused = sum(bool(a) and FROM_YOUR_NETWORK in a[0] for a in answers)
    checks = _password_checks(factory, [m.user_id for m in members])
    print(f"\nburst of 30, budget 5: {checks} password checks, {wrong} 'incorrect', {refused} refused")
    assert checks == 5
    assert wrong == 4 and refused == 26  # the fifth check's answer already says the budget is spent


def test_a_concurrent_burst_on_one_login_gets_no_more_checks_than_its_limit(app, make_member, factory):
    """30 simultaneous wrong logins on one login from one address, limit 5 per login."""
    member = make_member()
    address = next_address()
    answers = _burst([_client(app, address) for _ in range(30)], [member.login] * 30, "guess-1")
    checks = _password_checks(factory, [member.user_id])
    wrong = sum(a == [INCORRECT] for a in answers)
    assert checks == 5 and wrong == 4
    locked = sum(bool(a) and LOCKED in a[0] for a in answers)
    from_network = sum(bool(a) and FROM_YOUR_NETWORK in a[0] for a in answers)
    # 5 checked (the fifth answer: locked), 15 more locked, then the address's budget of 20 is spent
    assert (locked, from_network) == (16, 10)


def test_forwarded_for_is_ignored_without_a_trusted_proxy(app, make_member):
    """A client cannot get a fresh budget by sending X-Forwarded-For itself."""
    victim = make_member()
    attacker = _client(app)
    for i in range(5):
        attacker.environ_base["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{i}"
        log_in(attacker, victim.login, f"guess-{i}")
    attacker.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.99"
    assert log_in(attacker, victim.login, victim.password).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_limited(database, engine, make_member):
    app = _app(database, engine, panel_trusted_proxies=1)
    victim = make_member()
    proxy = "127.0.0.1"
    attacker = _client(app, proxy)
    attacker.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    for i in range(5):
        log_in(attacker, victim.login, f"guess-{i}")
    assert log_in(attacker, victim.login, victim.password).status_code == 429
    owner = _client(app, proxy)  # the same proxy, another client behind it
    owner.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.8"
    assert log_in(owner, victim.login, victim.password).status_code == 302


def test_limits_are_settings(database):
    limits = services.LoginLimits.from_settings(
        dataclasses.replace(
            database,
            panel_login_per_address=7,
            panel_login_per_login=3,
            panel_login_per_login_total=9,
            panel_login_window_minutes=5,
        )
    )
    assert limits == services.LoginLimits(7, 3, 9, dt.timedelta(minutes=5))


def test_one_ipv6_subscriber_cannot_rotate_addresses_within_its_64_for_fresh_budgets(app, make_member):
    """Review: a host gets a whole IPv6 /64; counting single addresses gave 2**64 budgets. Five
    wrong passwords from five addresses of one /64 lock the login for that /64 (the right
    password is refused too); another /64 still gets in."""
    import secrets

    victim = make_member()
    prefix = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}"
    for i in range(5):
        log_in(_client(app, f"{prefix}::{i + 1:x}"), victim.login, f"guess-{i}")
    refused = log_in(_client(app, f"{prefix}:abcd::99"), victim.login, victim.password)
    assert refused.status_code == 429 and LOCKED in flashes(refused)[0]
    other = _client(app, f"2001:db8:ffff:{secrets.randbelow(0xFFFF):x}::1")
    assert log_in(other, victim.login, victim.password).status_code == 302


def test_limits_count_an_ipv6_slash_64_and_an_ipv4_mapped_address_as_one_source():
    assert (
        services.source("2001:db8:1:2:aaaa::1")
        == services.source("2001:db8:1:2:bbbb::2")
        == "2001:db8:1:2::/64"
    )
    assert services.source("::ffff:192.0.2.5") == services.source("192.0.2.5") == "192.0.2.5"
    assert services.source("") == "?"
    assert services.address_key("2001:db8:1:2::1") == services.address_key("2001:db8:1:2:ffff::1")
    assert services.address_key("2001:db8:1:3::1") != services.address_key("2001:db8:1:2::1")
