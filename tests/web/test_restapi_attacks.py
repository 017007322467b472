"""The REST API attacked (issue 15 review): inputs a script or an attacker may send never get
a 500 or an HTML page (every answer under /api/v1 is the API's JSON error, with no trace or
SQL), digits are ASCII digits only, a request nested to blow the parser up is a 400, and the
rate limit is the token owner's: several tokens of one login share one bucket. Real PostgreSQL,
real services (the fixtures of test_restapi)."""

from __future__ import annotations

from sqlalchemy import func, select

from db.models import CreditLot
from webpanel import create_app

from .test_restapi import FORWARDING, _token, admin_id, api, world  # noqa: F401 (fixtures)


def _json_error(r, status: int, error: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/json", r.get_data(as_text=True)[:300]
    body = r.get_json()
    text = r.get_data(as_text=True)
    assert "Traceback" not in text and "SELECT" not in text and "psycopg" not in text
    if error is not None:
        assert body["error"] == error, body
    return body


def _no_propagation(api) -> None:
    """Answer as production does (TESTING re-raises a view's exception into the test)."""
    api.application.config["PROPAGATE_EXCEPTIONS"] = False


def test_non_ascii_digits_in_cursors_limits_ids_and_amounts_are_refused(api, factory, world):
    a, b, ids, toks = world
    _no_propagation(api)
    op = toks["op"].headers
    for path in ("/api/v1/accounts", "/api/v1/numbers", "/api/v1/dids"):
        for digits in ("%C2%B2", "%D9%A1%D9%A2", "%EF%BC%91"):  # superscript 2, Arabic-Indic 12, full-width 1
            body = _json_error(api.get(f"{path}?after={digits}", headers=op), 400, "invalid")
            assert body["field"] == "after", (path, digits)
    assert _json_error(api.get("/api/v1/accounts?limit=%D9%A1", headers=op), 400)["field"] == "limit"
    assert _json_error(api.get("/api/v1/numbers?account_id=%D9%A1", headers=op), 400)["field"] == "account_id"
    for amount in ("١٢", "１２", "1\u0665"):
        r = api.post(
            f"/api/v1/accounts/{b.account_id}/credit",
            json={"kind": "credit", "amount": amount, "reason": "x"},
            headers=op,
        )
        assert _json_error(r, 400, "invalid")["field"] == "amount", amount
    with factory() as s:
        assert not s.scalar(
            select(func.count()).select_from(CreditLot).where(CreditLot.account_id == b.account_id)
        )
    # ASCII still works, and a JSON number for an amount too
    r = api.post(
        f"/api/v1/accounts/{b.account_id}/credit",
        json={"kind": "credit", "amount": "12.50", "reason": "x"},
        headers=op,
    )
    assert r.status_code == 201 and r.get_json()["amount"] == "12.5000"
    r = api.get("/api/v1/accounts?limit=1", headers=op)
    assert r.status_code == 200 and len(r.get_json()["items"]) == 1


def test_a_deeply_nested_body_is_a_json_400_and_changes_nothing(api, factory, world):
    a, b, ids, toks = world
    _no_propagation(api)
    bomb = "[" * 100_000 + "]" * 100_000
    r = api.post(
        f"/api/v1/accounts/{b.account_id}/credit",
        data=bomb,
        content_type="application/json",
        headers=toks["op"].headers,
    )
    _json_error(r, 400, "invalid")
    nested = '{"a":' * 50_000 + "1" + "}" * 50_000
    r = api.put(
        f"/api/v1/me/numbers/{a.number}/forwarding",
        data=nested,
        content_type="application/json",
        headers=toks["member"].headers,
    )
    _json_error(r, 400, "invalid")
    # the app still answers normally afterwards
    assert api.get("/api/v1/me", headers=toks["member"].headers).status_code == 200


def test_what_the_database_refuses_is_a_json_400(api, world):
    a, b, ids, toks = world
    _no_propagation(api)
    _json_error(api.get("/api/v1/accounts?q=a%00b", headers=toks["op"].headers), 400, "invalid")


def test_dates_at_the_calendars_end_are_a_json_400(api, world):
    a, b, ids, toks = world
    _no_propagation(api)
    h = toks["read"].headers
    for query in ("start=9999-12-30", "end=0001-01-01", "start=0001-01-01", "end=9999-12-31"):
        body = _json_error(api.get(f"/api/v1/me/call-records?{query}", headers=h), 400, "invalid")
        assert body["field"] in ("start", "end"), query


def test_an_id_past_the_columns_range_in_a_url_is_the_apis_json_404(api, world):
    a, b, ids, toks = world
    _no_propagation(api)
    for path, h in (
        ("/api/v1/me/voicemail/99999999999/audio", toks["member"].headers),
        ("/api/v1/accounts/99999999999", toks["op"].headers),
        ("/api/v1/invoices/99999999999/pdf", toks["op"].headers),
    ):
        _json_error(api.get(path, headers=h), 404, "not_found")
    # the panel's own pages keep their HTML 404
    r = api.get("/admin/accounts/99999999999")
    assert r.status_code in (302, 404) and r.mimetype != "application/json"


def test_several_tokens_of_one_login_share_one_rate_limit(database, engine, factory, world):
    a, b, ids, toks = world
    app = create_app(
        {
            "TESTING": True,
            "VOIP_SETTINGS": database,
            "VOIP_ENGINE": engine,
            "API_RATE_PER_MINUTE": 60,
            "API_RATE_BURST": 6,
        }
    )
    c = app.test_client()
    extra = [_token(factory, a.user_id, "read") for _ in range(4)]
    mine = [toks["read"], toks["member"], *extra]  # six tokens of member A
    codes = [c.get("/api/v1/me", headers=t.headers).status_code for t in mine]
    assert codes == [200] * 6
    for t in mine:  # a fresh token of the same login does not refill the bucket
        r = c.get("/api/v1/me", headers=t.headers)
        assert r.status_code == 429 and r.get_json()["error"] == "rate_limited"
    # another login's tokens have their own bucket
    assert c.get("/api/v1/accounts", headers=toks["op"].headers).status_code == 200


def test_a_token_stops_working_when_its_login_loses_the_right_to_it(api, factory, world, make_member):
    from db.models import Account, ApiToken, User
    from db.session import transaction

    a, b, ids, toks = world
    assert api.get("/api/v1/me", headers=toks["read"].headers).status_code == 200
    with transaction(factory) as s:  # the account is closed
        s.get_one(Account, a.account_id).status = "closed"
    assert api.get("/api/v1/me", headers=toks["read"].headers).status_code == 401
    with transaction(factory) as s:
        s.get_one(Account, a.account_id).status = "active"
    assert api.get("/api/v1/me", headers=toks["read"].headers).status_code == 200
    # a token whose stored scope is beyond its owner's (written by hand in the table) opens nothing
    c = make_member()
    forged = _token(factory, c.user_id, "member")
    with transaction(factory) as s:
        s.get_one(ApiToken, forged.id).scope = "operator"
    assert api.get("/api/v1/accounts", headers=forged.headers).status_code == 401
    assert api.get("/api/v1/me", headers=forged.headers).status_code == 401
    # a member's token moved to another account (account_id no longer the user's) opens nothing
    moved = _token(factory, c.user_id, "read")
    with transaction(factory) as s:
        s.get_one(ApiToken, moved.id).account_id = b.account_id
    assert api.get("/api/v1/me", headers=moved.headers).status_code == 401
    with factory() as s:
        assert s.get_one(User, c.user_id).role == "primary"


def test_a_read_token_cannot_write_through_head_options_or_an_override_header(api, factory, world):
    from db.models import Account

    a, b, ids, toks = world
    h = toks["op_read"].headers
    path = f"/api/v1/accounts/{b.account_id}/suspend"
    for method in ("HEAD", "OPTIONS"):
        assert api.open(path, method=method, headers=h).status_code in (200, 405), method
    for override in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        r = api.get(path, headers={**h, override: "POST"})
        assert r.status_code == 405, override
        r = api.post(f"{path}?_method=GET", headers={**h, override: "GET"})
        assert r.status_code == 403 and r.get_json()["error"] == "forbidden", override
    r = api.put(
        f"/api/v1/me/numbers/{a.number}/forwarding?_method=GET",
        json=FORWARDING,
        headers={**toks["read"].headers, "X-HTTP-Method-Override": "GET"},
    )
    assert r.status_code == 403
    with factory() as s:
        assert s.get_one(Account, b.account_id).status == "active"


def test_the_description_documents_the_400_the_api_answers_not_webargs_422(api, world):
    a, b, ids, toks = world
    spec = api.get("/api/v1/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            assert "422" not in op["responses"], (method, path)
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "400" in op["responses"], (method, path)
    # and indeed a body that does not validate is a 400
    r = api.post("/api/v1/numbers", json={"account_id": "x"}, headers=toks["op"].headers)
    assert r.status_code == 400 and r.get_json()["field"] in ("account_id", "number")


def test_a_crafted_cursor_is_a_400_and_leaks_no_other_accounts_rows(api, factory, world):
    import base64
    import struct

    a, b, ids, toks = world
    _no_propagation(api)
    op = toks["op"].headers
    for micros in (2**62, -(2**62), 2**63 - 1, -(2**63)):  # an operator's cursor: far past the calendar
        cursor = base64.urlsafe_b64encode(struct.pack(">qq", micros, 5)).decode().rstrip("=")
        body = _json_error(api.get(f"/api/v1/call-records?after={cursor}", headers=op), 400, "invalid")
        assert body["field"] == "after"
    # a member's cursor names a place in the order only: B's calls never come out of A's pages
    h = toks["read"].headers
    for cursor in ("99999999999999999.9223372036854775807", "0.1", "-99999999999999999.1", "١٢.٣"):
        r = api.get(f"/api/v1/me/call-records?after={cursor}", headers=h)
        assert r.status_code in (200, 400), (cursor, r.status_code)
        if r.status_code == 200:
            assert {row["number"] for row in r.get_json()["items"]} <= {a.number}, cursor
        else:
            _json_error(r, 400, "invalid")


def test_an_unusual_method_is_the_apis_json_405(api, world):
    a, b, ids, toks = world
    _no_propagation(api)
    for method in ("TRACE", "PROPFIND", "CONNECT"):
        r = api.open("/api/v1/accounts", method=method, headers=toks["op"].headers)
        body = _json_error(r, 405, "method_not_allowed")
        assert "GET" in r.headers.get("Allow", ""), (method, body)
    r = api.open("/login", method="TRACE")  # the panel's own pages keep their page
    assert r.status_code == 405 and r.mimetype != "application/json"


def test_control_characters_in_an_accounts_text_are_refused(api, factory, world):
    from db.models import Account

    a, b, ids, toks = world
    _no_propagation(api)
    op = toks["op"].headers
    with factory() as s:
        before = s.scalar(select(func.count()).select_from(Account))
    for field, value in (("first_name", "a\x07b"), ("last_name", "x\x1by"), ("email", "a@b.c\r\nBcc: d@e.f")):
        body = {"number": "17005550130", "password": "Api-created-2026", field: value}
        r = api.post("/api/v1/accounts", json=body, headers=op)
        assert _json_error(r, 400, "invalid")["field"] == field, field
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == before
    _json_error(api.get("/api/v1/accounts?q=a%07b", headers=op), 400, "invalid")
