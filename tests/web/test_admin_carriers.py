"""The operator admin's Carriers pages (issue 14): a carrier added, changed, disabled and
deleted, every field checked (a bad value gets a clear message and changes nothing), the
outbound password write-only (no page ever shows it, nor its md5), the buy deck replaced whole
or not at all, loss prefixes, the "route this number" tool listing the candidates in the order
a call tries them, every change audited with the operator, carriers.updated_at bumped on each
change (the routing cache reloads on it). Members get 403 on every carrier route."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import time
import uuid
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import delete, select, update

from db import accounts
from db.models import AuditLog, Carrier, CarrierHealth, CarrierRate, LossPrefix, RateDeck
from db.rates import import_deck
from db.session import transaction

from .conftest import csrf_token, errors_in, flashes, sign_in, sign_in_user

URL = "/admin/carriers/"
PASSWORD = "Trunk-Secret-4242-xyz"


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)
    return client


@pytest.fixture()
def names(factory):
    """Carrier names for this test (unique in the run's database), deleted afterwards."""
    made: list[str] = []

    def name() -> str:
        made.append(f"t{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield name
    with transaction(factory) as s:
        s.execute(delete(Carrier).where(Carrier.name.in_(made)))


def post(client, url, data, token_from=URL):
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **data})


def good(carrier_name: str, /, **changes) -> dict:
    data = {
        "name": carrier_name,
        "description": "Test trunk",
        "host": "sip.example.net",
        "port": "5060",
        "transport": "udp",
        "inbound_match": "192.0.2.10, 198.51.100.0/24",
        "auth_username": "acme",
        "auth_realm": "",
        "auth_type": "userpass",
        "password": PASSWORD,
        "tech_prefix": "",
        "caller_id_mode": "pass",
        "caller_id_number": "",
        "codecs": "ulaw,alaw",
        "max_channels": "10",
        "qualify_seconds": "30",
        "setup_timeout": "8",
        "priority": "0",
        "weight": "1",
        "enabled": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def carrier(factory, name) -> Carrier | None:
    with factory() as s:
        return s.scalar(select(Carrier).where(Carrier.name == name))


def add(client, name, **changes) -> Carrier:
    response = post(client, URL + "new", good(name, **changes), token_from=URL + "new")
    assert response.status_code == 302, errors_in(response)
    return carrier(client.application.extensions["voip_db"].factory, name)


def test_add_a_carrier_then_change_disable_and_delete_it_all_audited(as_admin, admin, factory, names):
    name = names()
    response = post(as_admin, URL + "new", good(name), token_from=URL + "new")
    assert response.status_code == 302, errors_in(response)
    added = carrier(factory, name)
    assert added is not None
    assert (added.host, added.port, added.inbound_match, added.auth_username, added.max_channels) == (
        "sip.example.net",
        5060,
        "192.0.2.10,198.51.100.0/24",
        "acme",
        10,
    )
    assert added.auth_secret == PASSWORD  # userpass: what Asterisk's realtime auth sends
    first_stamp = added.updated_at

    listing = unescape(as_admin.get(URL).get_data(as_text=True))
    assert name in listing and "sip.example.net:5060" in listing
    assert f'href="{URL}"' in as_admin.get("/admin/").get_data(as_text=True)  # in the nav

    # an edit with the password left empty keeps the stored one
    edit = f"{URL}{added.id}"
    response = post(as_admin, edit, good(name, password="", priority="5", codecs="g722, ulaw"), edit)
    assert response.status_code == 302, errors_in(response)
    changed = carrier(factory, name)
    assert (changed.priority, changed.codecs, changed.auth_secret) == (5, "g722,ulaw", PASSWORD)
    assert changed.updated_at > first_stamp

    response = post(as_admin, f"{edit}/enabled", {"enabled": "0"})
    assert response.status_code == 302
    assert carrier(factory, name).enabled is False
    assert any("disabled" in f for f in flashes(as_admin.get(URL)))

    response = post(as_admin, f"{edit}/delete", {})
    assert response.status_code == 302
    assert carrier(factory, name) is None

    with factory() as s:
        actions = s.scalars(
            select(AuditLog.action)
            .where(AuditLog.actor_user_id == admin, AuditLog.object_type == "carriers")
            .order_by(AuditLog.id)
        ).all()
    assert actions == ["carrier.create", "carrier.update", "carrier.disable", "carrier.delete"]


def test_md5_credential_is_computed_from_user_realm_and_password(as_admin, factory, names):
    name = names()
    added = add(as_admin, name, auth_type="md5", auth_realm="acme.example")
    expected = hashlib.md5(f"acme:acme.example:{PASSWORD}".encode()).hexdigest()
    assert added.auth_secret == expected
    # a new realm without the password again: the stored md5 cannot be carried over
    edit = f"{URL}{added.id}"
    response = post(
        as_admin, edit, good(name, auth_type="md5", auth_realm="other.example", password=""), edit
    )
    assert response.status_code == 400
    assert any("needs the password again" in e for e in errors_in(response))
    assert carrier(factory, name).auth_realm == "acme.example"


BAD = [
    ({"name": "Bad Name"}, "carrier name"),
    ({"name": "-starts-with-hyphen"}, "carrier name"),
    ({"host": ""}, "Enter the carrier's host"),
    ({"host": "exa mple.com"}, "not a hostname"),
    ({"host": "999.1.1.1"}, "not a valid IPv4"),
    ({"host": "sip..example.com"}, "not a hostname"),
    ({"host": "fe80::zz"}, "not a hostname"),
    ({"port": "0"}, "Port is a whole number"),
    ({"port": "70000"}, "Port is a whole number"),
    ({"port": "5o60"}, "Port is a whole number"),
    ({"transport": "tls"}, "Not a valid choice"),
    ({"inbound_match": "10.0.0.1/24"}, "bits set past its prefix"),
    ({"inbound_match": "0.0.0.0/0"}, "too wide"),
    ({"inbound_match": "192.0.2.1, nonsense"}, "not an IP address"),
    ({"inbound_match": "192.0.2.1,192.0.2.1"}, "listed twice"),
    # identify by address runs before the user name: a wide or local network would take members
    ({"inbound_match": "127.0.0.0/8"}, "too wide"),
    ({"inbound_match": "198.51.100.0/23"}, "too wide"),
    ({"inbound_match": "2001:db8::/47"}, "too wide"),
    ({"inbound_match": "127.0.0.0/24"}, "contains 127.0.0.1"),
    ({"inbound_match": "0.0.0.0/32"}, "contains 0.0.0.0"),
    ({"inbound_match": "192.0.2.1, ::1"}, "contains ::1"),
    ({"inbound_match": "", "host": "127.0.0.1"}, "contains 127.0.0.1"),
    ({"codecs": "ulaw,g7299"}, "Unknown codec"),
    ({"codecs": "ulaw,ulaw"}, "listed twice"),
    ({"codecs": ""}, None),  # empty: the default, accepted
    ({"caller_id_mode": "fixed", "caller_id_number": ""}, "needs the caller ID number"),
    ({"caller_id_number": "12ab"}, "caller ID number"),
    ({"max_channels": "-1"}, "Channel limit"),
    ({"setup_timeout": "0"}, "Setup timeout"),
    ({"setup_timeout": "121"}, "Setup timeout"),
    ({"qualify_seconds": "3601"}, "Qualify interval"),
    ({"priority": "1001"}, "Priority"),
    ({"weight": "0"}, "Weight"),
    ({"tech_prefix": "12a"}, "technical prefix"),
    ({"auth_type": "md5", "auth_realm": ""}, "needs the carrier's realm"),
    ({"auth_username": "", "register": "y", "password": ""}, "registration needs"),
    ({"auth_username": "has space"}, "authentication username"),
    ({"password": ""}, "Enter the carrier's password"),
    ({"password": "bad\x01password"}, "control characters"),
    ({"description": "x" * 121}, "120"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[repr(c)[:40] for c, _ in BAD])
def test_a_bad_field_is_refused_with_a_message_and_nothing_is_stored(
    as_admin, factory, names, change, message
):
    name = names()
    data = good(name, **change)
    if "name" in change:
        name = change["name"]
    with factory() as s:
        before = s.scalar(select(Carrier.id).order_by(Carrier.id.desc()).limit(1))
    response = post(as_admin, URL + "new", data, token_from=URL + "new")
    if message is None:
        assert response.status_code == 302, errors_in(response)
        return
    assert response.status_code == 400
    shown = " ".join(errors_in(response))
    assert message in shown, shown
    assert PASSWORD not in response.get_data(as_text=True)  # not even echoed into the form
    with factory() as s:
        assert s.scalar(select(Carrier.id).order_by(Carrier.id.desc()).limit(1)) == before


def test_a_bad_edit_changes_nothing(as_admin, factory, names):
    name = names()
    added = add(as_admin, name)
    edit = f"{URL}{added.id}"
    response = post(
        as_admin, edit, good(name, host="bad host", priority="7", password="Other-Pass-999"), edit
    )
    assert response.status_code == 400
    after = carrier(factory, name)
    assert (after.host, after.priority, after.auth_secret, after.updated_at) == (
        added.host,
        added.priority,
        PASSWORD,
        added.updated_at,
    )
    assert any("not a hostname" in e for e in errors_in(response))


def test_the_password_never_appears_in_any_page(as_admin, factory, names):
    name, md5_name = names(), names()
    added = add(as_admin, name)
    md5_added = add(as_admin, md5_name, auth_type="md5", auth_realm="r.example")
    secrets = (PASSWORD, md5_added.auth_secret)
    edit = f"{URL}{added.id}"
    pages = [
        as_admin.get(URL),
        as_admin.get(edit),
        as_admin.get(f"{URL}{md5_added.id}"),
        as_admin.get(URL + "route?number=4420123456"),
        as_admin.get("/admin/audit/"),
        # a refused edit renders the form with what was posted: the password field stays empty
        post(as_admin, edit, good(name, host="bad host", password=PASSWORD), edit),
        post(as_admin, edit, good(name, password=PASSWORD, priority="2"), edit),
    ]
    pages.append(as_admin.get(edit))
    for response in pages:
        html = response.get_data(as_text=True)
        for secret in secrets:
            assert secret not in html, response.request.path
    # the password field is there, empty, with a "keep it" hint
    assert 'name="password"' in pages[1].get_data(as_text=True)
    assert "leave empty to keep" in pages[1].get_data(as_text=True)
    with factory() as s:
        details = s.scalars(select(AuditLog.details).where(AuditLog.object_type == "carriers")).all()
    assert not any(secret in str(d) for d in details for secret in secrets)


def test_a_member_gets_403_on_every_carrier_route(app, client, make_member, factory, names):
    with transaction(factory) as s:
        target = Carrier(name=names(), host="192.0.2.1")
        s.add(target)
        s.flush()
        carrier_id = target.id
    member = make_member()
    sign_in(client, member)
    token = csrf_token(client, "/")
    rules = [r for r in app.url_map.iter_rules() if "carrier" in r.endpoint]
    assert len(rules) >= 9
    for rule in rules:
        url = rule.build({name: carrier_id if name == "carrier_id" else "44" for name in rule.arguments})[1]
        for method in sorted(rule.methods & {"GET", "POST"}):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(
                    url, data={"csrf_token": token, "enabled": "0", "prefix": "44", "number": "441234"}
                )
            assert response.status_code == 403, (method, url, response.status_code)
    assert carrier(factory, target.name).enabled is True


DECK = "prefix,destination,country,rate_per_minute,connect_fee\n44,UK,GB,0.01000,0\n4420,London,GB,0.00800,0\n33,France,FR,0.01200,0\n"


def _deck(factory, carrier_id) -> list[tuple[str, Decimal]]:
    with factory() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(CarrierRate.prefix, CarrierRate.rate_per_minute)
                .where(CarrierRate.carrier_id == carrier_id)
                .order_by(CarrierRate.prefix)
            )
        ]


def upload(client, carrier_id, text: str, filename="deck.csv"):
    edit = f"{URL}{carrier_id}"
    return client.post(
        f"{edit}/rates",
        data={"csrf_token": csrf_token(client, edit), "deck": (io.BytesIO(text.encode()), filename)},
        content_type="multipart/form-data",
    )


def test_a_buy_deck_import_replaces_the_whole_deck_or_changes_nothing(as_admin, factory, names):
    added = add(as_admin, names())
    response = upload(as_admin, added.id, DECK)
    assert response.status_code == 302, unescape(response.get_data(as_text=True))[-2000:]
    assert _deck(factory, added.id) == [
        ("33", Decimal("0.01200")),
        ("44", Decimal("0.01000")),
        ("4420", Decimal("0.00800")),
    ]
    stamp = carrier(factory, added.name).updated_at
    assert stamp > added.updated_at  # the routing cache reloads on it
    html = unescape(as_admin.get(f"{URL}{added.id}").get_data(as_text=True))
    assert "3 prefixes" in html and "London" in html

    # a bad line (the sell deck's checks and words): nothing changes, the line is named
    bad = "prefix,rate_per_minute\n49,0.02\n4930,1e3\n"
    response = upload(as_admin, added.id, bad)
    assert response.status_code == 400
    shown = unescape(response.get_data(as_text=True))
    assert "Line 3: rate_per_minute '1e3' is not an amount" in shown
    assert "Nothing was imported" in shown
    assert len(_deck(factory, added.id)) == 3
    assert carrier(factory, added.name).updated_at == stamp

    for refused, words in (
        ("prefix,rate_per_minute\n", "The rate deck is empty."),
        ("prefix,destination\n44,UK\n", "needs a header"),
        ("prefix,rate_per_minute\n44,0.01\n44,0.02\n", "Line 3: prefix 44 appears twice."),
    ):
        response = upload(as_admin, added.id, refused)
        assert response.status_code == 400
        assert words in unescape(response.get_data(as_text=True))
        assert len(_deck(factory, added.id)) == 3

    # a good deck replaces every row: the old prefixes are gone
    response = upload(as_admin, added.id, "prefix,rate_per_minute\n49,0.02\n4930,0.015\n")
    assert response.status_code == 302
    assert _deck(factory, added.id) == [("49", Decimal("0.02000")), ("4930", Decimal("0.01500"))]
    with factory() as s:
        imports = s.scalars(
            select(AuditLog.details)
            .where(AuditLog.action == "carrier.import_rates", AuditLog.object_id == str(added.id))
            .order_by(AuditLog.id)
        ).all()
    assert [d["prefixes"] for d in imports] == [3, 2]


def test_loss_prefixes_are_added_checked_and_removed(as_admin, factory):
    prefix = "8821" + str(uuid.uuid4().int)[:6]
    try:
        response = post(as_admin, URL + "loss-prefixes", {"prefix": prefix, "note": "promo"})
        assert response.status_code == 302, errors_in(response)
        assert prefix in as_admin.get(URL).get_data(as_text=True)
        for bad in ("44a", "", "1234567890123456"):
            response = post(as_admin, URL + "loss-prefixes", {"prefix": bad})
            assert response.status_code == 400
            assert any("loss prefix is 1 to 15 digits" in e for e in errors_in(response))
        response = post(as_admin, URL + "loss-prefixes", {"prefix": prefix})
        assert response.status_code == 400 and any("already exists" in e for e in errors_in(response))
        response = post(as_admin, f"{URL}loss-prefixes/{prefix}/delete", {})
        assert response.status_code == 302
        with factory() as s:
            assert s.get(LossPrefix, prefix) is None
        assert post(as_admin, f"{URL}loss-prefixes/{prefix}/delete", {}).status_code == 404
    finally:
        with transaction(factory) as s:
            s.execute(delete(LossPrefix).where(LossPrefix.prefix == prefix))


@pytest.fixture()
def sell_deck(factory):
    """An active sell deck pricing 88216 at $0.10 a minute; the deck active before it is
    active again afterwards."""
    with transaction(factory) as s:
        before = s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True)))
        import_deck(
            s,
            f"carriers route tool {uuid.uuid4().hex[:6]}",
            [("88216", "Test network", "", Decimal("0.10000"), Decimal("0"), 60, 60)],
        )
    yield
    with transaction(factory) as s:
        s.execute(update(RateDeck).where(RateDeck.active.is_(True)).values(active=False))
        if before is not None:
            s.execute(update(RateDeck).where(RateDeck.id == before).values(active=True))


def test_the_route_tool_lists_the_candidates_in_order_with_margins_and_drops(
    as_admin, factory, names, sell_deck
):
    # cheapest first; at equal cost the lower priority; above the sell price: dropped (no loss
    # prefix); a disabled carrier is never tried; the tool lists those past the call's attempts
    specs = {
        "cheap": ("0.03", "5", True),
        "mid-a": ("0.05", "1", True),
        "mid-b": ("0.05", "0", True),
        "late": ("0.09", "0", True),  # the fourth: past the 3 attempts a call makes
        "dear": ("0.20", "0", True),
        "off": ("0.01", "0", False),
    }
    made = {}
    for label, (rate, priority, enabled) in specs.items():
        c = add(as_admin, names(), priority=priority, inbound_match="", enabled="y" if enabled else None)
        response = upload(as_admin, c.id, f"prefix,rate_per_minute\n8821,{rate}\n")
        assert response.status_code == 302
        made[label] = c.name
    response = as_admin.get(URL + "route?number=88216123456")
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    assert "$0.10" in html  # the sell rate
    order = [made[k] for k in ("cheap", "mid-b", "mid-a")]
    positions = [html.index(f'data-carrier="{name}"') for name in order]
    assert positions == sorted(positions), html
    # the margins per minute: 0.10 - 0.03, 0.10 - 0.05
    assert "$0.07" in html and "$0.05" in html
    dear = html[html.index(f'data-carrier="{made["dear"]}"') :]
    assert "buys above the sell price" in dear[:1500]
    late = html[html.index(f'data-carrier="{made["late"]}"') :]
    assert "past the 3 attempts a call makes" in late[:1500]
    assert html.index(f'data-carrier="{made["late"]}"') > positions[-1]
    assert made["off"] in html and "Disabled, never tried" in html
    assert html.index(f'data-carrier="{made["dear"]}"') > positions[-1]

    response = as_admin.get(URL + "route?number=12ab")
    assert response.status_code == 200
    assert "international format" in unescape(response.get_data(as_text=True))


# --- live state and the test call, on the real Asterisk with SIPp carriers ---------------------


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    from tests.support.carriers import start_carriers
    from tests.support.realparts import unavailable
    from tests.support.sipp import sipp_binary

    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")
    carriers = start_carriers(
        tmp_path_factory.mktemp("admin-carriers"),
        {"answer": ("answer", "127.0.0.4"), "r503": ("503", "127.0.0.5")},
    )
    yield carriers
    for c in carriers.values():
        c.stop()


def _row(html: str, name: str) -> str:
    start = html.index(f'data-carrier="{name}"')
    return html[start : html.index("</tr>", start)]


@contextlib.contextmanager
def qualifying(database):
    """The controller's carrier prober (controller/services/carrier_qualify.py), running in a
    thread of its own with its own event loop as the controller runs it, for the sync tests."""
    import asyncio
    import threading

    from controller.services.carrier_qualify import CarrierQualifier
    from db.hotpath import HotDB

    stop = threading.Event()

    async def main() -> None:
        hot = HotDB(database)
        await hot.open()
        prober = CarrierQualifier(hot, lambda down: None, tick=0.2)
        prober.start()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await prober.stop()
        await hot.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def test_the_list_shows_each_carriers_qualify_state_and_round_trip_from_the_controllers_probe(
    database, as_admin, factory, names, sims, sell_deck
):
    from tests.support.sipp import free_udp_port
    from tests.support.wait import until_sync

    up, down, never = names(), names(), names()
    sim = sims["answer"]
    add(
        as_admin,
        up,
        host=sim.ip,
        port=str(sim.port),
        inbound_match="",
        qualify_seconds="1",
        password=None,
        auth_username="",
    )
    # nothing answers there: its qualify fails
    add(
        as_admin,
        down,
        host="127.0.0.6",
        port=str(free_udp_port("127.0.0.6")),
        inbound_match="",
        qualify_seconds="1",
        password=None,
        auth_username="",
    )
    add(
        as_admin,
        never,
        host="127.0.0.6",
        inbound_match="",
        qualify_seconds="0",
        password=None,
        auth_username="",
    )
    html = unescape(as_admin.get(URL).get_data(as_text=True))
    assert "unknown" in _row(html, up) and "unknown" in _row(html, down)  # not probed yet
    assert "not qualified" in _row(html, never)

    def rows() -> tuple[str, str] | None:
        html = unescape(as_admin.get(URL).get_data(as_text=True))
        a, b = _row(html, up), _row(html, down)
        return (a, b) if "reachable" in a and "unreachable" not in a and "unreachable" in b else None

    with qualifying(database):
        found = until_sync(rows, timeout=20, interval=0.5, what="the qualify states")
    assert " ms" in found[0]  # the OPTIONS' round trip
    assert any("OPTIONS sip:" in m for m in sim.received())  # the live carrier was asked
    with factory() as s:
        health = {
            h.carrier_id: h
            for h in s.scalars(
                select(CarrierHealth).where(
                    CarrierHealth.carrier_id.in_(
                        [carrier(factory, up).id, carrier(factory, down).id, carrier(factory, never).id]
                    )
                )
            )
        }
    assert health[carrier(factory, up).id].reachable is True
    assert health[carrier(factory, down).id].reachable is False
    assert carrier(factory, never).id not in health

    # the route tool says a call passes over the unreachable one now
    for name, rate in ((up, "0.02"), (down, "0.01")):
        assert (
            upload(as_admin, carrier(factory, name).id, f"prefix,rate_per_minute\n8821,{rate}\n").status_code
            == 302
        )
    html = unescape(as_admin.get(URL + "route?number=88216123456").get_data(as_text=True))
    assert "its qualify fails now: calls skip it" in _row(html, down)
    assert "calls skip it" not in _row(html, up)


def test_a_test_call_shows_answered_or_the_carriers_refusal(asterisk, as_admin, factory, names, sims):
    answering, refusing = names(), names()
    for name, sim in ((answering, sims["answer"]), (refusing, sims["r503"])):
        add(
            as_admin,
            name,
            host=sim.ip,
            port=str(sim.port),
            inbound_match="",
            qualify_seconds="0",
            password=None,
            auth_username="",
        )
    ok = carrier(factory, answering)
    response = post(as_admin, f"{URL}{ok.id}/test-call", {"number": "12125550142"}, f"{URL}{ok.id}")
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Answered." in html, html[html.find('id="test-call"') :][:1500]
    assert "12125550142" in sims["answer"].invited_numbers()

    bad = carrier(factory, refusing)
    response = post(as_admin, f"{URL}{bad.id}/test-call", {"number": "12125550143"}, f"{URL}{bad.id}")
    html = unescape(response.get_data(as_text=True))
    outcome = html[html.find("test-call-outcome") :][:600]
    assert "Not answered" in outcome, outcome
    assert "The carrier answered SIP 503." in outcome, outcome
    assert "Hangup cause 34" in outcome, outcome

    response = post(as_admin, f"{URL}{ok.id}/test-call", {"number": "12;34"}, f"{URL}{ok.id}")
    assert response.status_code == 400
    assert any("3 to 20 digits" in e for e in errors_in(response))
    with factory() as s:
        tests = s.scalars(select(AuditLog.details).where(AuditLog.action == "carrier.test_call")).all()
    assert any(d["name"] == answering and d["answered"] for d in tests)


def test_voipctl_adds_lists_and_imports_a_carriers_deck_with_the_same_checks(factory, names, tmp_path):
    from click.testing import CliRunner

    from controller.cli import main

    name = names()
    runner = CliRunner()
    r = runner.invoke(
        main,
        ["carriers", "add", name, "--host", "192.0.2.77", "--auth-user", "acme", "--priority", "3"],
        input=f"{PASSWORD}\n",
    )
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.output and f"carrier-{name}" in r.output
    added = carrier(factory, name)
    assert (added.host, added.priority, added.auth_secret) == ("192.0.2.77", 3, PASSWORD)

    r = runner.invoke(main, ["carriers", "add", names(), "--host", "bad host"])
    assert r.exit_code != 0 and "not a hostname" in str(r.exception)

    deck = tmp_path / "buy.csv"
    deck.write_text("prefix,rate_per_minute\n44,0.01\n")
    r = runner.invoke(main, ["carriers", "import-rates", name, str(deck)])
    assert r.exit_code == 0 and "1 prefixes" in r.output
    deck.write_text("prefix,rate_per_minute\n33,0.01\n33x,0.02\n")
    r = runner.invoke(main, ["carriers", "import-rates", name, str(deck)])
    assert r.exit_code != 0 and "Line 3" in str(r.exception)
    assert _deck(factory, added.id) == [("44", Decimal("0.01000"))]

    r = runner.invoke(main, ["carriers", "list"])
    assert r.exit_code == 0
    line = next(line for line in r.output.splitlines() if line.startswith(name))
    assert "192.0.2.77:5060/udp" in line and "1 prefixes" in line and PASSWORD not in r.output


def test_the_pages_and_the_services_messages_are_in_the_operators_language(as_admin, names):
    as_admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es"
    html = unescape(as_admin.get(URL).get_data(as_text=True))
    assert "<h1>Operadores</h1>" in html and "Prefijos con pérdida" in html
    response = post(as_admin, URL + "new", good(names(), port="0"), token_from=URL + "new")
    assert "Puerto es un número entero de 1 a 65535." in errors_in(response)
    as_admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    response = post(as_admin, URL + "new", good(names(), host="bad host"), token_from=URL + "new")
    assert "L'hôte 'bad host' n'est ni un nom d'hôte ni une adresse IP." in errors_in(response)


def test_the_list_shows_each_carriers_asr_and_acd_of_the_last_hour(as_admin, factory, names):
    import datetime as dt

    from db.models import Cdr

    name = names()
    add(as_admin, name)
    now = dt.datetime.now(dt.UTC)
    rows = [  # (minutes ago, disposition, billsec): an attempt each
        (5, "ANSWERED", 30),
        (20, "ANSWERED", 91),
        (40, "FAILED", 0),
        (50, "NO ANSWER", 0),
        (120, "ANSWERED", 600),  # more than an hour ago: not counted
    ]
    with transaction(factory) as s:
        ids = []
        for ago, disposition, billsec in rows:
            cdr = Cdr(
                carrier=name,
                start=now - dt.timedelta(minutes=ago),
                disposition=disposition,
                billsec=billsec,
                duration=billsec,
                uniqueid=f"carrier-asr-{uuid.uuid4().hex}",
            )
            s.add(cdr)
            s.flush()
            ids.append(cdr.id)
    try:
        html = unescape(as_admin.get(URL).get_data(as_text=True))
        row = " ".join(re.sub(r"<[^>]+>", " ", _row(html, name)).split())
        assert "50 % (2/4)" in row  # ASR: 2 answered of 4 attempts
        assert "60.5 s" in row  # ACD: (30 + 91) / 2
    finally:
        with transaction(factory) as s:
            s.execute(delete(Cdr).where(Cdr.id.in_(ids)))


def test_an_inbound_network_holding_asterisks_own_address_is_refused(monkeypatch):
    """Asterisk's address (settings.asterisk_host) is where a one-host setup's own requests
    and phones come from: no carrier may be identified by it."""
    from db.carriers import check_inbound_match
    from db.errors import ServiceError

    monkeypatch.setenv("VOIP_ASTERISK_HOST", "192.0.2.50")
    with pytest.raises(ServiceError, match="contains 192.0.2.50"):
        check_inbound_match("192.0.2.0/24")
    assert check_inbound_match("198.51.100.0/24") == "198.51.100.0/24"


def test_every_bad_field_of_a_carrier_is_shown_next_to_it_after_one_submit(as_admin, factory, names):
    """Issue 16: the admin forms said one problem per submit; now each field says its own."""
    name = names()
    data = good(name, port="70000", tech_prefix="12a", codecs="ulaw,g7299", caller_id_number="12ab")
    response = post(as_admin, URL + "new", data, token_from=URL + "new")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field, message in (
        ("port", "Port is a whole number"),
        ("tech_prefix", "technical prefix"),
        ("codecs", "Unknown codec"),
        ("caller_id_number", "caller ID number"),
    ):
        found = re.findall(rf'<p class="field-message" id="{field}-error-1">([^<]*)</p>', html)
        assert found and message in found[0], (field, found)
        assert re.search(rf'<input[^>]*aria-describedby="[^"]*{field}-error-1"', html), field
    with factory() as s:
        assert s.scalar(select(Carrier.id).where(Carrier.name == name)) is None
