"""The help page's "Recharge Call Credit" in the panel: voucher redemption (keyed-hash lookup,
single use, expiry, row lock, attempt limit) adds one credit lot."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import func, select

from db import accounts
from db.errors import ServiceError
from db.models import AuditLog, CreditLot, User, Voucher
from db.session import transaction
from webpanel.admin import services as admin_services
from webpanel.recharge import services

from .conftest import errors_in, flashes, page, post_form, sign_in

KEY = "test-pin-key"  # VOIP_PIN_KEY of the test run (tests/conftest.py)


def _voucher(factory, amount="10.00", **kw) -> tuple[int, str]:
    with transaction(factory) as s:
        voucher, code = services.create_voucher(s, KEY, Decimal(amount), **kw)
        return voucher.id, code


def _lots(factory, account_id) -> list[CreditLot]:
    with factory() as s:
        return list(s.scalars(select(CreditLot).where(CreditLot.account_id == account_id)))


def test_redeeming_a_voucher_adds_a_credit_lot_and_uses_the_voucher(client, make_member, factory):
    member = make_member()
    voucher_id, code = _voucher(factory, "12.50")
    sign_in(client, member)
    assert "$0.00" in page(client, "/recharge/")
    typed = code.lower().replace("-", " ")  # as a member may type it
    response = post_form(client, "/recharge/", {"code": typed}, token_from="/recharge/")
    assert response.status_code == 302
    assert "Your voucher added $12.50 to your call credit." in [
        unescape(f) for f in flashes(client.get("/recharge/"))
    ]
    (lot,) = _lots(factory, member.account_id)
    assert (lot.original, lot.remaining, lot.source) == (Decimal("12.50"), Decimal("12.50"), "voucher")
    with factory() as s:
        voucher = s.get(Voucher, voucher_id)
        assert voucher.redeemed_by_account_id == member.account_id and voucher.credit_lot_id == lot.id
        assert voucher.code_hmac != code and code.replace("-", "") not in voucher.code_hmac
    html = page(client, "/recharge/")
    assert '<p class="balance">$12.50</p>' in html and "Voucher" in html


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown", "That voucher code is not valid. Check the code and try again."),
        ("used", "That voucher has already been used."),
        ("expired", "That voucher expired on 2020-01-31."),
        ("voided", "That voucher was voided."),
        ("malformed", "A voucher code is 6 to 32 letters and digits, such as ABCD-EFGH-JKLM-NPQR."),
        ("empty", "Enter the voucher code."),
    ],
)
def test_a_refused_voucher_gets_a_clear_message_and_adds_nothing(client, make_member, factory, case, message):
    member = make_member()
    code = {"unknown": "ABCD-EFGH-JKLM-NPQR", "malformed": "no!", "empty": ""}.get(case)
    if case == "used":
        _, code = _voucher(factory)
        with transaction(factory) as s:
            s.execute(
                Voucher.__table__.update()
                .where(Voucher.code_hmac == services.code_hmac(KEY, code))
                .values(redeemed_at=dt.datetime.now(dt.UTC))
            )
    if case == "expired":
        _, code = _voucher(factory, expires_at=dt.datetime(2020, 1, 31, 12, tzinfo=dt.UTC))
    if case == "voided":  # as the admin's Void does it: voided, and expired at that moment
        voucher_id, code = _voucher(factory)
        with transaction(factory) as s:
            admin = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026")
            admin_services.void_voucher(s, admin, voucher_id)
    sign_in(client, member)
    response = post_form(client, "/recharge/", {"code": code}, token_from="/recharge/")
    assert response.status_code == 400
    assert message in errors_in(response)
    assert _lots(factory, member.account_id) == []
    if case == "voided":
        assert "expired" not in " ".join(errors_in(response))
        with factory() as s:
            refusal = s.scalars(
                select(AuditLog).where(
                    AuditLog.account_id == member.account_id, AuditLog.action == services.REFUSED
                )
            ).one()
            assert refusal.details == {"reason": "voided", "voucher_id": voucher_id}


def test_guessing_codes_is_stopped_after_five_refusals_per_account(
    client, make_member, make_secondary, factory
):
    member = make_member()
    second = make_secondary(member)
    _, good = _voucher(factory)
    sign_in(client, member)
    for i in range(services.MAX_FAILURES):
        response = post_form(client, "/recharge/", {"code": f"WRONG-CODE-{i:04d}"}, token_from="/recharge/")
        assert response.status_code == 400
    sign_in(client, second)  # the limit is the account's, whoever types
    response = post_form(client, "/recharge/", {"code": good}, token_from="/recharge/")
    assert response.status_code == 429
    assert "Too many voucher codes were refused. Please try again in 15 minutes." in errors_in(response)
    assert _lots(factory, member.account_id) == []


def test_two_accounts_redeeming_one_code_at_once_get_one_lot_between_them(make_member, factory):
    a, b = make_member(), make_member()
    voucher_id, code = _voucher(factory, "5.00")
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def redeem(member):
        with factory() as s:
            user = s.get(User, member.user_id)
            barrier.wait()
            try:
                services.redeem_voucher(s, KEY, user, code)
                outcomes[member.account_id] = "ok"
            except ServiceError as exc:
                outcomes[member.account_id] = str(exc)
            s.commit()

    threads = [threading.Thread(target=redeem, args=(m,)) for m in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes.values()) == ["That voucher has already been used.", "ok"]
    with factory() as s:
        lots = s.scalar(
            select(func.count())
            .select_from(CreditLot)
            .where(CreditLot.account_id.in_((a.account_id, b.account_id)))
        )
        assert lots == 1
        assert s.get(Voucher, voucher_id).redeemed_by_account_id in (a.account_id, b.account_id)


def test_redeeming_needs_the_csrf_token(client, make_member, factory):
    member = make_member()
    _, code = _voucher(factory)
    sign_in(client, member)
    assert client.post("/recharge/", data={"code": code}).status_code == 400
    assert _lots(factory, member.account_id) == []
