"""The REST API under /api/v1 (issue 15): bearer tokens only (stored hashed, revoked or expired
refused at once, a session cookie opens nothing), scopes (read: GET only; member: their own
account; operator: everything), other accounts' ids refused (404), operator endpoints refused to
members (403), a rate limit (429 with Retry-After), JSON errors, and every write audited with the
token's user, the token's id and the remote address. Real PostgreSQL, real services."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import time
import wave
from decimal import Decimal

import pytest
from sqlalchemy import select

from db import accounts
from db import api_tokens as tokens
from db.models import (
    ApiToken,
    AuditLog,
    CreditLot,
    Did,
    ForwardingRule,
    Invoice,
    VirtualNumber,
    VoicemailMessage,
)
from db.session import transaction
from tests.support.realparts import unique_number
from webpanel import create_app

from .cdrs import add_cdrs, cdr_values
from .conftest import csrf_token, sign_in, sign_in_user

ADDR = "198.51.100.7"


@pytest.fixture()
def api(database, engine):
    app = create_app(
        {"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine, "API_RATE_BURST": 1000}
    )  # the rate limit has its own test
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ADDR
    return client


@dataclasses.dataclass
class Tok:
    id: int
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def _token(factory, user_id: int, scope: str, **kw) -> Tok:
    with transaction(factory) as s:
        from db.models import User

        row, secret = tokens.create(s, s.get_one(User, user_id), name=f"t-{scope}", scope=scope, **kw)
        return Tok(row.id, secret)


@pytest.fixture()
def admin_id(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def world(factory, make_member, admin_id):
    """Two members (A with a DID, a voicemail message, a CDR, an invoice; B), and tokens of every kind."""
    a, b = make_member(), make_member()
    with transaction(factory) as s:
        did_a = Did(account_id=a.account_id, number=unique_number("1555"), connection="none")
        did_b = Did(account_id=b.account_id, number=unique_number("1555"), connection="none")
        s.add_all([did_a, did_b])
        s.add(
            CreditLot(
                account_id=a.account_id, original=Decimal("20"), remaining=Decimal("20"), source="admin"
            )
        )
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x00\x10" * 8000)
        msg_a = VoicemailMessage(virtual_number_id=a.vn_id, audio=buf.getvalue(), caller_number="13125550100")
        msg_b = VoicemailMessage(virtual_number_id=b.vn_id, audio=buf.getvalue())
        inv_b = Invoice(
            number=f"INV-T-{time.time_ns()}",
            account_id=b.account_id,
            period_start=dt.date(2026, 10, 1),
            period_end=dt.date(2026, 11, 1),
            time_zone="UTC",
            opening_balance=Decimal("0"),
            closing_balance=Decimal("5"),
            pdf=b"%PDF-1.4 test\n",
        )
        s.add_all([msg_a, msg_b, inv_b])
        s.flush()
        ids = {"did_a": did_a.id, "did_b": did_b.id, "msg_a": msg_a.id, "msg_b": msg_b.id, "inv_b": inv_b.id}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=a.number,
                start=now - dt.timedelta(hours=3),
                src=a.number,
                dst="13125550101",
                dialed="13125550101",
                call_class="D",
                billsec=30,
            ),
            cdr_values(
                vnum=b.number,
                start=now - dt.timedelta(hours=2),
                src=b.number,
                dst="13125550102",
                dialed="13125550102",
                call_class="D",
                billsec=40,
            ),
        ],
        {0: {"call_type": "D", "cost": Decimal("0.0120")}, 1: {"call_type": "D", "cost": Decimal("0.0130")}},
    )
    toks = {
        "op": _token(factory, admin_id, "operator"),
        "op_read": _token(factory, admin_id, "read"),
        "member": _token(factory, a.user_id, "member"),
        "read": _token(factory, a.user_id, "read"),
    }
    return a, b, ids, toks


def _audits(factory, action: str) -> list[AuditLog]:
    with factory() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


# --- authentication -----------------------------------------------------------------------------


def test_no_token_unknown_revoked_or_expired_token_is_401(api, factory, world, admin_id):
    a, _, _, toks = world
    r = api.get("/api/v1/me")
    assert (
        r.status_code == 401
        and r.get_json()["error"] == "unauthorized"
        and "Bearer" in r.headers["WWW-Authenticate"]
    )
    r = api.get("/api/v1/me", headers={"Authorization": "Bearer vt_" + "x" * 43})
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_token"
    assert api.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert api.get("/api/v1/me", headers=toks["member"].headers).status_code == 200
    with transaction(factory) as s:
        from db.models import User

        tokens.revoke(s, s.get_one(User, a.user_id), s.get_one(ApiToken, toks["member"].id))
    assert api.get("/api/v1/me", headers=toks["member"].headers).status_code == 401  # at once
    expired = _token(factory, a.user_id, "read", expires_in_days=1)
    with transaction(factory) as s:
        s.get_one(ApiToken, expired.id).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert api.get("/api/v1/me", headers=expired.headers).status_code == 401


def test_a_session_cookie_alone_opens_nothing(api, world, admin_id):
    a, _, _, _ = world
    sign_in(api, a)
    assert api.get("/").status_code == 200  # the cookie works for the panel
    for path in ("/api/v1/me", "/api/v1/me/balance", "/api/v1/me/call-records"):
        assert api.get(path).status_code == 401, path
    token = csrf_token(api, "/")
    r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json={}, headers={"X-CSRFToken": token})
    assert r.status_code == 401
    sign_in_user(api, admin_id)
    assert api.get("/api/v1/accounts").status_code == 401


def test_tokens_are_stored_as_sha256_with_a_prefix_and_last_use_is_recorded(api, factory, world):
    _, _, _, toks = world
    with factory() as s:
        row = s.get_one(ApiToken, toks["read"].id)
        assert (
            row.token_hash == tokens.hash_token(toks["read"].secret)
            and toks["read"].secret not in row.token_hash
        )
        assert row.prefix == toks["read"].secret[:10] and row.last_used_at is None
        assert len(toks["read"].secret) == 46 and toks["read"].secret.startswith("vt_")
    api.get("/api/v1/me", headers=toks["read"].headers)
    with factory() as s:
        first = s.get_one(ApiToken, toks["read"].id).last_used_at
    assert first is not None
    api.get("/api/v1/me", headers=toks["read"].headers)
    with factory() as s:
        assert s.get_one(ApiToken, toks["read"].id).last_used_at == first  # at most once a minute


def test_a_suspended_members_token_is_refused(api, factory, world):
    a, _, _, toks = world
    with transaction(factory) as s:
        from db.models import Account

        s.get_one(Account, a.account_id).status = "suspended"
    assert api.get("/api/v1/me", headers=toks["read"].headers).status_code == 401


# --- scopes: every endpoint, each scope ------------------------------------------------------------


def _operator_reads(a, b, ids):
    return [
        "/api/v1/accounts",
        f"/api/v1/accounts/{b.account_id}",
        f"/api/v1/accounts/{b.account_id}/balance",
        "/api/v1/numbers",
        f"/api/v1/numbers/{b.vn_id}",
        "/api/v1/dids",
        f"/api/v1/dids/{ids['did_b']}",
        "/api/v1/call-records",
        f"/api/v1/invoices?account_id={b.account_id}",
        f"/api/v1/invoices/{ids['inv_b']}",
        f"/api/v1/invoices/{ids['inv_b']}/pdf",
    ]


def _operator_writes(a, b, ids):
    return [
        (
            "POST",
            "/api/v1/accounts",
            {"number": unique_number(), "password": "Api-created-2026", "first_name": "X"},
        ),
        ("POST", f"/api/v1/accounts/{b.account_id}/suspend", None),
        ("POST", f"/api/v1/accounts/{b.account_id}/resume", None),
        (
            "POST",
            f"/api/v1/accounts/{b.account_id}/credit",
            {"kind": "credit", "amount": "1.50", "reason": "goodwill"},
        ),
        ("POST", "/api/v1/numbers", {"account_id": b.account_id, "number": unique_number()}),
        ("POST", f"/api/v1/dids/{ids['did_b']}/connect", {"account_id": b.account_id, "target": b.number}),
    ]


def _member_reads(a, ids):
    return [
        "/api/v1/me",
        "/api/v1/me/balance",
        "/api/v1/me/call-records",
        "/api/v1/me/voicemail",
        f"/api/v1/me/voicemail/{ids['msg_a']}/audio",
        f"/api/v1/me/numbers/{a.number}/forwarding",
    ]


FORWARDING = {
    "step1": {
        "action": "voicemail",
        "ring": {"mode": "simultaneous", "seconds": 20, "numbers": []},
        "device_seconds": 25,
    },
    "step2": {
        "no_answer": {"enabled": False, "mode": "sequential", "seconds": 20, "numbers": []},
        "busy": {"enabled": False, "mode": "simultaneous", "seconds": 20, "numbers": []},
    },
}


def _call(api, method, path, body, tok):
    return api.open(path, method=method, json=body, headers=tok.headers)


def test_operator_token_reads_and_writes_every_operator_endpoint(api, factory, world):
    a, b, ids, toks = world
    for path in _operator_reads(a, b, ids):
        r = api.get(path, headers=toks["op"].headers)
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])
    for method, path, body in _operator_writes(a, b, ids):
        r = _call(api, method, path, body, toks["op"])
        assert r.status_code in (200, 201), (path, r.status_code, r.get_json())
    for name in ("op", "op_read"):  # an operator's token is no member's
        for path in _member_reads(a, ids):
            assert api.get(path, headers=toks[name].headers).status_code == 403, (name, path)
        r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json=FORWARDING, headers=toks[name].headers)
        assert r.status_code == 403, name


def test_operator_read_token_reads_everything_and_writes_nothing(api, factory, world):
    a, b, ids, toks = world
    for path in _operator_reads(a, b, ids):
        assert api.get(path, headers=toks["op_read"].headers).status_code == 200, path
    for method, path, body in _operator_writes(a, b, ids):
        r = _call(api, method, path, body, toks["op_read"])
        assert r.status_code == 403 and r.get_json()["error"] == "forbidden", path
    with factory() as s:
        from db.models import Account

        assert s.get_one(Account, b.account_id).status == "active"


def test_member_tokens_get_403_on_every_operator_endpoint_even_for_their_own_ids(api, world):
    a, b, ids, toks = world
    own = dataclasses.replace(b, account_id=a.account_id, virtual_number_id=a.vn_id)
    for name in ("member", "read"):
        for path in _operator_reads(a, own, {**ids, "did_b": ids["did_a"]}):
            r = api.get(path, headers=toks[name].headers)
            assert r.status_code == 403 and r.get_json()["error"] == "forbidden", (name, path)
        for method, path, body in _operator_writes(a, own, {**ids, "did_b": ids["did_a"]}):
            assert _call(api, method, path, body, toks[name]).status_code == 403, (name, path)


def test_member_token_reads_its_own_account_and_updates_forwarding(api, factory, world):
    a, _, ids, toks = world
    for name in ("member", "read"):
        for path in _member_reads(a, ids):
            r = api.get(path, headers=toks[name].headers)
            assert r.status_code == 200, (name, path, r.status_code, r.get_data(as_text=True)[:200])
    me = api.get("/api/v1/me", headers=toks["member"].headers).get_json()
    assert me["account_id"] == a.account_id and me["numbers"] == [a.number] and me["scope"] == "member"
    bal = api.get("/api/v1/me/balance", headers=toks["read"].headers).get_json()
    assert bal["available"] == "20.0000" and bal["account_id"] == a.account_id
    records = api.get("/api/v1/me/call-records", headers=toks["read"].headers).get_json()
    assert [r["called"] for r in records["items"]] == ["13125550101"] and records["next"] is None
    assert records["items"][0]["cost"] == "0.0120"
    # written directly (records.page_response), it is what its documented schema would write
    from webpanel.restapi.schemas import CallRecordPageSchema, CdrPageSchema

    schema = CallRecordPageSchema()
    assert schema.dump(schema.load(records)) == records and set(records["items"][0]) == set(
        schema.fields["items"].inner.schema.fields
    )
    cdrs = api.get("/api/v1/call-records", headers=toks["op"].headers).get_json()
    cdr_schema = CdrPageSchema()
    assert cdr_schema.dump(cdr_schema.load(cdrs)) == cdrs and cdrs["items"]
    vm = api.get("/api/v1/me/voicemail", headers=toks["read"].headers).get_json()
    assert vm["mailbox"] == a.number and [m["id"] for m in vm["items"]] == [ids["msg_a"]]
    audio = api.get(vm["items"][0]["audio_url"], headers=toks["read"].headers)
    assert audio.status_code == 200 and audio.mimetype == "audio/wav" and audio.data[:4] == b"RIFF"
    # read: no write
    r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json=FORWARDING, headers=toks["read"].headers)
    assert r.status_code == 403
    r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json=FORWARDING, headers=toks["member"].headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["step1"]["action"] == "voicemail" and r.get_json()["step1"]["device_seconds"] == 25
    with factory() as s:
        rule = s.get_one(ForwardingRule, a.vn_id)
        assert rule.step1 == "voicemail" and rule.device_seconds == 25


def test_member_tokens_never_reach_another_accounts_ids(api, factory, world):
    a, b, ids, toks = world
    for name in ("member", "read"):
        h = toks[name].headers
        assert api.get(f"/api/v1/me/voicemail/{ids['msg_b']}/audio", headers=h).status_code == 404
        assert api.get(f"/api/v1/me/voicemail?number={b.number}", headers=h).status_code == 404
        assert api.get(f"/api/v1/me/numbers/{b.number}/forwarding", headers=h).status_code == 404
        r = api.put(f"/api/v1/me/numbers/{b.number}/forwarding", json=FORWARDING, headers=h)
        assert r.status_code in (403, 404)  # read: 403 before anything; member: 404
        records = api.get(f"/api/v1/me/call-records?number={b.number}", headers=h).get_json()
        assert records["items"] == []  # B's number is only "the other party": none of A's calls
    r = api.put(f"/api/v1/me/numbers/{b.number}/forwarding", json=FORWARDING, headers=toks["member"].headers)
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    with factory() as s:
        assert (
            s.get(ForwardingRule, b.vn_id) is None or s.get_one(ForwardingRule, b.vn_id).step1 != "voicemail"
        )


def test_a_secondary_users_login_cannot_have_tokens(factory, make_member, make_secondary):
    from db.errors import ServiceError
    from db.models import User

    a = make_member()
    second = make_secondary(a)
    with transaction(factory) as s:
        with pytest.raises(ServiceError):
            tokens.create(s, s.get_one(User, second.user_id), name="x", scope="read")
        with pytest.raises(ServiceError):
            tokens.create(s, s.get_one(User, a.user_id), name="x", scope="operator")


# --- bad input, errors -------------------------------------------------------------------------------


def test_bad_input_is_a_json_400_naming_the_field_and_changes_nothing(api, factory, world):
    a, b, ids, toks = world
    op = toks["op"].headers
    r = api.post(
        f"/api/v1/accounts/{b.account_id}/credit",
        json={"kind": "debit", "amount": "9999", "reason": "x"},
        headers=op,
    )
    assert (
        r.status_code == 400
        and r.get_json()["error"] == "invalid"
        and "available balance" in r.get_json()["message"]
    )
    r = api.post(
        f"/api/v1/accounts/{b.account_id}/credit",
        json={"kind": "gift", "amount": "1", "reason": "x"},
        headers=op,
    )
    assert r.status_code == 400 and r.get_json()["field"] == "kind"
    r = api.post(
        f"/api/v1/accounts/{b.account_id}/credit",
        json={"kind": "credit", "amount": "-1", "reason": "x"},
        headers=op,
    )
    assert r.status_code == 400
    with factory() as s:
        assert not list(s.scalars(select(CreditLot).where(CreditLot.account_id == b.account_id)))
    r = api.post("/api/v1/accounts", json={"number": a.number, "password": "Api-created-2026"}, headers=op)
    assert r.status_code == 400 and "already" in r.get_json()["message"]
    r = api.get("/api/v1/accounts?limit=0", headers=op)
    assert r.status_code == 400 and r.get_json()["field"] == "limit"
    r = api.get("/api/v1/accounts?after=abc", headers=op)
    assert r.status_code == 400 and r.get_json()["field"] == "after"
    bad = {
        **FORWARDING,
        "step1": {
            **FORWARDING["step1"],
            "action": "ring_list",
            "ring": {"mode": "simultaneous", "seconds": 20, "numbers": ["911"]},
        },
    }
    r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json=bad, headers=toks["member"].headers)
    assert (
        r.status_code == 400
        and r.get_json()["field"] == "step1.ring.numbers"
        and "911" in r.get_json()["message"]
    )
    r = api.put(
        f"/api/v1/me/numbers/{a.number}/forwarding",
        json={**FORWARDING, "step1": {**FORWARDING["step1"], "device_seconds": 500}},
        headers=toks["member"].headers,
    )
    assert r.status_code == 400 and r.get_json()["field"] == "step1.device_seconds"
    with factory() as s:
        rule = s.get(ForwardingRule, a.vn_id)
        assert rule is None or rule.step1 != "ring_list"
    assert api.get("/api/v1/accounts/999999999", headers=op).status_code == 404
    r = api.get("/api/v1/call-records?since=yesterday", headers=op)
    assert r.status_code == 400 and r.get_json()["error"] == "invalid"
    r = api.get(f"/api/v1/call-records?account_id={b.account_id}", headers=op).get_json()
    assert {row["vnum"] for row in r["items"]} == {b.number} and r["items"][0]["cost"] == "0.0130"
    r = api.get("/api/v1/no-such-thing", headers=op)
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    r = api.delete("/api/v1/accounts", headers=op)
    assert r.status_code == 405 and r.get_json()["error"] == "method_not_allowed"


# --- pagination ----------------------------------------------------------------------------------------


def test_keyset_pages_walk_accounts_and_call_records_without_overlap(api, factory, world, make_member):
    a, b, ids, toks = world
    for _ in range(3):
        make_member()
    op = toks["op"].headers
    first = api.get("/api/v1/accounts?limit=2", headers=op).get_json()
    second = api.get(f"/api/v1/accounts?limit=2&after={first['next']}", headers=op).get_json()
    assert len(first["items"]) == 2 and len(second["items"]) == 2
    assert first["items"][1]["id"] > second["items"][0]["id"]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=a.number,
                start=now - dt.timedelta(minutes=10 + i),
                src=a.number,
                dst="13125550199",
                dialed="13125550199",
                call_class="D",
                billsec=i,
            )
            for i in range(5)
        ],
    )
    seen = []
    after = None
    while True:
        url = "/api/v1/me/call-records?limit=2" + (f"&after={after}" if after else "")
        page = api.get(url, headers=toks["read"].headers).get_json()
        seen += [r["id"] for r in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == 6 and len(set(seen)) == 6
    page = api.get(f"/api/v1/call-records?account_id={a.account_id}&limit=3", headers=op).get_json()
    assert len(page["items"]) == 3 and page["next"]
    rest = api.get(
        f"/api/v1/call-records?account_id={a.account_id}&limit=10&after={page['next']}", headers=op
    ).get_json()
    assert len(rest["items"]) == 3 and rest["next"] is None
    assert {r["vnum"] for r in page["items"] + rest["items"]} == {a.number}


# --- rate limit ------------------------------------------------------------------------------------------


def test_a_token_past_its_burst_gets_429_with_retry_after(database, engine, factory, world):
    a, _, _, toks = world
    app = create_app(
        {
            "TESTING": True,
            "VOIP_SETTINGS": database,
            "VOIP_ENGINE": engine,
            "API_RATE_PER_MINUTE": 60,
            "API_RATE_BURST": 5,
        }
    )
    c = app.test_client()
    codes = [c.get("/api/v1/me", headers=toks["read"].headers).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    r = c.get("/api/v1/me", headers=toks["read"].headers)
    assert (
        r.status_code == 429
        and int(r.headers["Retry-After"]) >= 1
        and r.get_json()["error"] == "rate_limited"
    )
    # one bucket per login: A's other token is refused too, another login's is not
    assert c.get("/api/v1/me", headers=toks["member"].headers).status_code == 429
    assert c.get("/api/v1/accounts", headers=toks["op"].headers).status_code == 200


# --- audit ---------------------------------------------------------------------------------------------


def test_every_write_is_audited_with_the_tokens_user_id_and_address(api, factory, world, admin_id):
    a, b, ids, toks = world
    for method, path, body in _operator_writes(a, b, ids):
        r = _call(api, method, path, body, toks["op"])
        assert r.status_code in (200, 201), path
    r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json=FORWARDING, headers=toks["member"].headers)
    assert r.status_code == 200
    expected = {
        "api.account_create": admin_id,
        "api.account_suspend": admin_id,
        "api.account_resume": admin_id,
        "api.credit_adjust": admin_id,
        "api.number_add": admin_id,
        "api.did_connect": admin_id,
        "api.forwarding_update": a.user_id,
    }
    for action, user_id in expected.items():
        entries = _audits(factory, action)
        mine = [e for e in entries if e.details.get("token_id") in (toks["op"].id, toks["member"].id)]
        assert mine, action
        e = mine[-1]
        assert e.actor_user_id == user_id and e.remote_addr == ADDR, action
    # the services' own entries are there too, with the same actor
    assert any(e.actor_user_id == admin_id for e in _audits(factory, "admin.credit_adjust"))
    with factory() as s:
        lot = s.scalars(select(CreditLot).where(CreditLot.account_id == b.account_id)).one()
        assert lot.remaining == Decimal("1.5000")
        assert s.scalar(
            select(VirtualNumber.id).where(
                VirtualNumber.account_id == b.account_id, VirtualNumber.id != b.vn_id
            )
        )


# --- the panel's token pages -------------------------------------------------------------------------

SECRET_RE = r'<code class="api-token-secret" id="new-token">(vt_[A-Za-z0-9_-]{43})</code>'


def test_a_member_creates_a_token_on_the_page_sees_it_once_and_revokes_it(
    api, factory, make_member, make_secondary
):
    import re

    a = make_member()
    sign_in(api, a)
    assert api.get("/api-tokens/").status_code == 200
    token = csrf_token(api, "/api-tokens/")
    r = api.post(
        "/api-tokens/",
        data={"csrf_token": token, "name": "my script", "scope": "read", "expires_in_days": ""},
    )
    assert r.status_code == 200
    secret = re.search(SECRET_RE, r.get_data(as_text=True)).group(1)
    listed = api.get("/api-tokens/").get_data(as_text=True)
    assert secret not in listed and secret[:10] in listed  # shown once; then only its prefix
    with factory() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.user_id == a.user_id)).one()
        assert row.scope == "read" and row.account_id == a.account_id and row.expires_at is None
    h = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/me", headers=h).status_code == 200
    r = api.post("/api-tokens/", data={"csrf_token": token, "name": "x", "scope": "operator"})
    assert r.status_code == 400  # not a member's scope
    r = api.post("/api-tokens/", data={"csrf_token": token, "name": "", "scope": "read"})
    assert r.status_code == 400
    other = make_member()
    other_tok = _token(factory, other.user_id, "read")
    r = api.post("/api-tokens/revoke", data={"csrf_token": token, "token_id": other_tok.id})
    assert r.status_code == 404  # another account's token
    assert api.get("/api/v1/me", headers=other_tok.headers).status_code == 200
    r = api.post("/api-tokens/revoke", data={"csrf_token": token, "token_id": row.id})
    assert r.status_code == 302
    assert api.get("/api/v1/me", headers=h).status_code == 401
    assert [
        e.details["prefix"] for e in _audits(factory, "api_token.revoke") if e.actor_user_id == a.user_id
    ] == [row.prefix]
    # a secondary user sees the page, but makes no token
    second = make_secondary(a)
    sign_in(api, second)
    assert "Only the primary account holder" in api.get("/api-tokens/").get_data(as_text=True)
    token = csrf_token(api, "/api-tokens/")
    assert (
        api.post("/api-tokens/", data={"csrf_token": token, "name": "x", "scope": "read"}).status_code == 403
    )


def test_an_operator_creates_an_operator_token_and_revokes_a_members_token(
    api, factory, admin_id, make_member
):
    import re

    a = make_member()
    member_tok = _token(factory, a.user_id, "member")
    sign_in_user(api, admin_id)
    assert api.get("/admin/api-tokens/").status_code == 200
    token = csrf_token(api, "/admin/api-tokens/")
    r = api.post(
        "/admin/api-tokens/",
        data={"csrf_token": token, "name": "billing sync", "scope": "operator", "expires_in_days": "30"},
    )
    assert r.status_code == 200
    secret = re.search(SECRET_RE, r.get_data(as_text=True)).group(1)
    assert api.get("/api/v1/accounts", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    with factory() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.token_hash == tokens.hash_token(secret))).one()
        assert row.account_id is None and row.expires_at is not None
    r = api.post("/admin/api-tokens/", data={"csrf_token": token, "name": "x", "scope": "member"})
    assert r.status_code == 400
    r = api.post("/admin/api-tokens/revoke", data={"csrf_token": token, "token_id": member_tok.id})
    assert r.status_code == 302
    assert api.get("/api/v1/me", headers=member_tok.headers).status_code == 401
    sign_in(api, a)  # a member gets no admin page
    assert api.get("/admin/api-tokens/").status_code == 403


def test_voipctl_api_token_create_prints_a_working_token_and_revoke_refuses_it(
    api, database, make_member, monkeypatch
):
    from click.testing import CliRunner

    from controller import cli

    member = make_member()
    for f in dataclasses.fields(database):
        if f.name.startswith("db_"):
            monkeypatch.setenv(f"VOIP_{f.name.upper()}", str(getattr(database, f.name)))
    runner = CliRunner()
    result = runner.invoke(cli.main, ["api-token", "create", "--user", member.login, "--scope", "member"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    h = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/me/balance", headers=h).status_code == 200
    token_id = re.search(r"token (\d+) ", result.output).group(1)
    assert runner.invoke(cli.main, ["api-token", "revoke", token_id]).exit_code == 0
    assert api.get("/api/v1/me/balance", headers=h).status_code == 401
    bad = runner.invoke(cli.main, ["api-token", "create", "--user", member.login, "--scope", "operator"])
    assert bad.exit_code != 0 and "scope" in bad.output
