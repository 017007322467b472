"""POST /api/topup, the payment portal's top-up API: HMAC-signed with a timestamp, idempotent on
payment_id, Decimal amounts within limits, clear JSON errors, no CSRF, no session."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import time
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from db.models import AuditLog, CreditLot, Payment
from webpanel import create_app
from webpanel.api.topup import sign

SECRET = "portal-shared-secret"


@pytest.fixture()
def api(database, engine):
    settings = dataclasses.replace(database, topup_secret=SECRET, topup_max_amount=Decimal("200.00"))
    return create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine}).test_client()


def _post(
    api, payload, *, secret=SECRET, timestamp=None, signature=None, raw=None, content_type="application/json"
):
    body = raw if raw is not None else json.dumps(payload).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-Timestamp": ts, "X-Signature": signature or sign(secret, ts, body)}
    return api.post("/api/topup", data=body, headers=headers, content_type=content_type)


def _payload(member, **over):
    return {
        "payment_id": f"pay_{uuid.uuid4().hex}",
        "account": member.number,
        "amount": "25.00",
        "currency": "USD",
        **over,
    }


def _lots(factory, account_id):
    with factory() as s:
        return list(s.scalars(select(CreditLot).where(CreditLot.account_id == account_id)))


def test_a_signed_top_up_adds_a_payment_credit_lot(api, make_member, factory):
    member = make_member()
    payload = _payload(member)
    response = _post(api, payload)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "credited" and body["amount"] == "25.00" and body["currency"] == "USD"
    assert body["payment_id"] == payload["payment_id"] and body["account"] == member.number
    (lot,) = _lots(factory, member.account_id)
    assert (lot.original, lot.remaining, lot.source) == (Decimal("25.00"), Decimal("25.00"), "payment")
    assert body["credit_lot_id"] == lot.id
    assert "Set-Cookie" not in response.headers
    with factory() as s:
        assert (
            s.scalar(
                select(Payment.credit_lot_id).where(Payment.provider_payment_id == payload["payment_id"])
            )
            == lot.id
        )
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == "credit.topup", AuditLog.account_id == member.account_id)
            )
            == 1
        )


def test_a_replayed_payment_returns_the_same_result_and_credits_once(api, make_member, factory):
    member = make_member()
    payload = _payload(member, amount=10)
    first = _post(api, payload)
    again = _post(api, payload, timestamp=int(time.time()) + 1)  # the portal retries, signed anew
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(_lots(factory, member.account_id)) == 1


def test_concurrent_deliveries_of_one_payment_credit_once(api, make_member, factory, database, engine):
    member = make_member()
    payload = _payload(member, amount="7.25")
    settings = dataclasses.replace(database, topup_secret=SECRET)
    app = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})

    def deliver(_):
        return _post(app.test_client(), payload)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(deliver, range(6)))
    assert {r.status_code for r in responses} == {200}
    assert len({json.dumps(r.get_json(), sort_keys=True) for r in responses}) == 1
    assert len(_lots(factory, member.account_id)) == 1


def test_a_payment_id_reused_for_another_amount_is_a_conflict(api, make_member, factory):
    member = make_member()
    payload = _payload(member)
    assert _post(api, payload).status_code == 200
    response = _post(api, {**payload, "amount": "99.00"})
    assert response.status_code == 409
    assert response.get_json()["error"] == "payment_id_conflict"
    assert len(_lots(factory, member.account_id)) == 1


@pytest.mark.parametrize(
    "change, status, error",
    [
        ({"signature": "0" * 64}, 401, "bad_signature"),
        ({"signature": "not hex"}, 401, "bad_signature"),
        ({"secret": "someone-elses-secret"}, 401, "bad_signature"),
        ({"timestamp": 1}, 401, "stale_timestamp"),
        ({"timestamp": "soon"}, 401, "bad_timestamp"),
        ({"raw": b"not json"}, 400, "bad_json"),
        ({"raw": b"[1, 2]"}, 400, "bad_json"),
        ({"raw": b'{"amount": NaN}'}, 400, "bad_json"),
        ({"content_type": "text/plain"}, 415, "bad_content_type"),
        ({"raw": b"{" + b" " * 5000 + b"}"}, 413, "too_large"),
    ],
)
def test_unsigned_stale_or_malformed_requests_are_refused_with_json(
    api, make_member, factory, change, status, error
):
    member = make_member()
    kw = dict(change)
    if kw.get("timestamp") == "soon":
        kw["timestamp"], kw["signature"] = "soon", "0" * 64
    response = _post(api, _payload(member), **kw)
    assert response.status_code == status
    assert response.get_json()["error"] == error and response.get_json()["message"]
    assert _lots(factory, member.account_id) == []


def test_a_stale_timestamp_is_refused_even_when_signed(api, make_member, factory):
    member = make_member()
    response = _post(api, _payload(member), timestamp=int(time.time()) - 301)
    assert response.status_code == 401 and response.get_json()["error"] == "stale_timestamp"
    assert _post(api, _payload(member), timestamp=int(time.time()) - 290).status_code == 200


@pytest.mark.parametrize(
    "over, field",
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "200.01"}, "amount"),  # above the configured maximum
        ({"amount": "10.001"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": "1e1"}, "amount"),  # an exponent is not how money is written (issue 13 item 8)
        ({"amount": "\uff11\uff12"}, "amount"),  # full-width digits
        ({"amount": "5\u00b2"}, "amount"),  # a superscript digit
        ({"currency": "EUR"}, "currency"),
        ({"account": "12"}, "account"),
        ({"account": 17005550123}, "account"),
        ({"payment_id": ""}, "payment_id"),
        ({"payment_id": "x" * 121}, "payment_id"),
        ({"payment_id": "pay 1; DROP"}, "payment_id"),
        ({"note": "hello"}, "note"),
    ],
)
def test_invalid_fields_are_named_in_the_error(api, make_member, factory, over, field):
    member = make_member()
    response = _post(api, _payload(member, **over))
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    assert _lots(factory, member.account_id) == []


def test_a_float_amount_is_read_as_an_exact_decimal(api, make_member, factory):
    member = make_member()
    raw = (
        f'{{"payment_id": "pay_{uuid.uuid4().hex}", "account": "{member.number}", "amount": 0.10, "currency": "USD"}}'
    ).encode()
    response = _post(api, None, raw=raw)
    assert response.status_code == 200 and response.get_json()["amount"] == "0.10"
    assert _lots(factory, member.account_id)[0].original == Decimal("0.10")


def test_an_unknown_account_is_404(api):
    response = _post(
        api, {"payment_id": "pay_unknown", "account": "19999999999", "amount": "5", "currency": "USD"}
    )
    assert response.status_code == 404 and response.get_json()["error"] == "unknown_account"


def test_top_ups_are_off_without_a_configured_secret(client, make_member):
    response = _post(client, _payload(make_member()), secret="anything")
    assert response.status_code == 503 and response.get_json()["error"] == "topup_disabled"
