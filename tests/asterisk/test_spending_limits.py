"""Spending limits and fraud controls on the real call path (issue 13): each call is placed by
the member's own SIPp phone registered with its number, decided by the controller's route
outbound (the same decision serves forwarded legs and the calling card), and announced by the
dialplan's refusal context. The limits are set in the database as the panel sets them.

The call test deck (tests/asterisk/conftest.py): US $0.60/min, UK $1.20/min per second."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from db import limits as db_limits
from db.models import Cdr, CdrCharge, FraudEvent
from db.session import transaction
from tests.support.events import AmiRecorder
from tests.support.members import CALLER_PANEL_PASSWORD, CALLER_SIP_PASSWORD, Member, make_member, new_member
from tests.support.sipp import SippResult, place_call
from tests.support.smtp import smtp_server  # noqa: F401 (the real SMTP catcher)

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOMESTIC, INTL, FRANCE, PREMIUM = "12125550100", "011442079460000", "01133142685300", "19002000000"
STAYS, HANGS_UP = "uac_call.xml", "uac_call_bye.xml"


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent")
    yield rec
    rec.close()


def phone_calls(
    settings, member: Member, dialed: str, cwd: Path, *, scenario: str = STAYS, timeout: int = 30
) -> asyncio.Task[SippResult]:
    return asyncio.create_task(
        asyncio.to_thread(
            place_call,
            member.number,
            member.sip_password,
            dialed,
            host=settings.asterisk_host,
            port=settings.sip_port,
            cwd=cwd,
            timeout=timeout,
            scenario=scenario,
        )
    )


def set_limits(factory, member: Member, **values) -> None:
    """The account's limits as the member and the operator set them (account_limits)."""
    with transaction(factory) as s:
        s.execute(
            text("INSERT INTO account_limits (account_id) VALUES (:a) ON CONFLICT DO NOTHING"),
            {"a": member.account_id},
        )
        sets = ", ".join(f"{k} = :{k}" for k in values)
        s.execute(
            text(f"UPDATE account_limits SET {sets} WHERE account_id = :a"),
            {"a": member.account_id, **values},
        )


def set_number_limits(factory, member: Member, **values) -> None:
    with transaction(factory) as s:
        cols = ", ".join(values)
        s.execute(
            text(
                f"INSERT INTO number_limits (virtual_number_id, {cols}) VALUES (:v, {', '.join(':' + k for k in values)})"
            ),
            {"v": member.vn_id, **values},
        )


def charged_today(factory, member: Member, cost: str, call_type: str = "D") -> None:
    """A call of today already rated: its CDR (not queued for rating) and its charge."""
    with transaction(factory) as s:
        cdr = Cdr(vnum=member.number, dst=DOMESTIC, start=dt.datetime.now(dt.UTC), billsec=60)
        s.add(cdr)
        s.flush()
        s.add(
            CdrCharge(
                cdr_id=cdr.id,
                account_id=member.account_id,
                virtual_number_id=member.vn_id,
                call_type=call_type,
                billable_seconds=60,
                cost=Decimal(cost),
            )
        )


async def refused(events, settings, member: Member, dialed: str, reason: str, tmp_path: Path) -> None:
    call = phone_calls(settings, member, dialed, tmp_path)
    await events.wait_for(15, UserEvent="VoipRefused", Reason=reason)
    result = await call
    assert result.ok, result.stdout[-1500:]


async def connects(
    events, settings, member: Member, dialed: str, number: str, tmp_path: Path, scenario: str = HANGS_UP
) -> None:
    call = phone_calls(settings, member, dialed, tmp_path, scenario=scenario)
    await events.wait_for(15, UserEvent="SimPstn", Number=number, State="answered")
    result = await call
    assert result.ok, result.stdout[-1500:]


def fraud_kinds(factory, member: Member) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(
                select(FraudEvent.kind)
                .where(FraudEvent.account_id == member.account_id)
                .order_by(FraudEvent.id)
            )
        )


# ----- caps


async def test_daily_cap_reached_by_credit_held_by_another_call_is_refused(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    set_limits(factory, m, daily_cap=Decimal("1.00"))
    with transaction(factory) as s:  # another call of the account holds $1.00 right now
        s.execute(
            text(
                "INSERT INTO call_authorizations (uniqueid, account_id, virtual_number_id, call_class,"
                " dialed, max_seconds, held_credit, call_group, expires_at)"
                " VALUES ('other-call', :a, :v, 'D', '12125550199', 100, 1.00, 'other-call',"
                " now() + interval '1 hour')"
            ),
            {"a": m.account_id, "v": m.vn_id},
        )
    await refused(events, settings, m, DOMESTIC, "daily_cap", tmp_path)
    assert not events.matching(UserEvent="SimPstn")
    assert fraud_kinds(factory, m) == ["daily_cap"]


async def test_daily_cap_counts_what_was_charged_today(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    set_limits(factory, m, daily_cap=Decimal("2.00"))
    charged_today(factory, m, "1.99")
    # $0.01 left: one second at $0.60/min is $0.01, so the call goes out, and Asterisk cuts it
    # at 1 s (the phone stays: the BYE is Asterisk's)
    await connects(events, settings, m, DOMESTIC, DOMESTIC, tmp_path, scenario=STAYS)
    charged_today(factory, m, "0.01")
    await refused(events, settings, m, DOMESTIC, "daily_cap", tmp_path)


async def test_international_cap_refuses_international_but_not_domestic_calls(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True, allow_international_ld=True)
    charged_today(factory, m, "1.00", call_type="I")
    set_limits(factory, m, intl_daily_cap=Decimal("1.00"))
    await refused(events, settings, m, INTL, "intl_daily_cap", tmp_path)
    await connects(events, settings, m, DOMESTIC, DOMESTIC, tmp_path)


async def test_member_cannot_exceed_the_operators_ceiling_even_with_a_higher_cap_stored(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    set_limits(factory, m, daily_cap=Decimal("50.00"), daily_cap_ceiling=Decimal("0.00"))
    await refused(events, settings, m, DOMESTIC, "daily_cap", tmp_path)


async def test_number_credit_limit_is_a_daily_limit_of_that_numbers_spend(
    controller, factory, settings, events, tmp_path, need_sipp
):
    from tests.support.members import set_options

    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    set_options(factory, m, credit_limit=Decimal("1.00"))
    charged_today(factory, m, "1.00")  # this number spent its whole limit earlier today
    await refused(events, settings, m, DOMESTIC, "number_daily_limit", tmp_path)


# ----- countries, international off by default, maximum rate


async def test_international_is_off_for_a_new_account(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00")
    await refused(events, settings, m, INTL, "not_permitted_international", tmp_path)


async def test_country_not_on_the_accounts_list_is_refused(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_international_ld=True)
    set_limits(factory, m, countries=["FR"])
    await refused(events, settings, m, INTL, "country_not_allowed", tmp_path)
    assert fraud_kinds(factory, m) == ["country_not_allowed"]


async def test_country_not_on_the_numbers_list_is_refused(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_international_ld=True)
    set_number_limits(factory, m, countries=["FR"])
    await refused(events, settings, m, INTL, "country_not_allowed", tmp_path)


async def test_country_on_the_list_goes_through(controller, factory, settings, events, tmp_path, need_sipp):
    m = make_member(factory, settings, credit="5.00", allow_international_ld=True)
    set_limits(factory, m, countries=["GB"], countries_allowed=["GB", "FR"])
    await connects(events, settings, m, INTL, "442079460000", tmp_path)


async def test_destination_above_the_maximum_rate_is_refused(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True, allow_international_ld=True)
    set_limits(factory, m, max_rate=Decimal("1.00"))  # UK is $1.20/min, US $0.60/min
    await refused(events, settings, m, INTL, "rate_too_high", tmp_path)
    await connects(events, settings, m, DOMESTIC, DOMESTIC, tmp_path)


# ----- concurrent calls


async def _one_call_up(events, settings, m: Member, tmp_path: Path) -> asyncio.Task[SippResult]:
    call = phone_calls(settings, m, DOMESTIC, tmp_path / "first", timeout=60)
    await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    return call


async def _hang_up_all(controller, call: asyncio.Task[SippResult]) -> None:
    await controller.ami.action({"Action": "Command", "Command": "channel request hangup all"})
    await call


@pytest.mark.parametrize("where", ["account", "number"])
async def test_concurrent_call_limit_refuses_the_call_over_it(
    controller, factory, settings, events, tmp_path, need_sipp, where
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    if where == "account":
        set_limits(factory, m, max_concurrent=1)
    else:
        set_number_limits(factory, m, max_concurrent=1)
    (tmp_path / "first").mkdir()
    first = await _one_call_up(events, settings, m, tmp_path)
    try:
        await refused(events, settings, m, "13125550111", "too_many_calls", tmp_path)
    finally:
        await _hang_up_all(controller, first)


# ----- premium ranges


async def test_premium_range_is_refused_without_opt_in_and_allowed_with(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    await refused(events, settings, m, PREMIUM, "premium_blocked", tmp_path)
    set_limits(factory, m, premium_opt_in=True)
    await connects(events, settings, m, PREMIUM, PREMIUM, tmp_path)


# ----- the velocity rule, and 911 through everything


async def test_velocity_rule_trips_emails_both_stops_billable_calls_until_lifted(
    controller,
    factory,
    settings,
    events,
    tmp_path,
    need_sipp,
    smtp_server,  # noqa: F811
):
    m = new_member(
        factory,
        realm=settings.sip_realm,
        password=CALLER_PANEL_PASSWORD,
        sip_password=CALLER_SIP_PASSWORD,
        options={"allow_us_canada_ld": True, "allow_international_ld": True},
        credit=("50.00",),
        email="member@example.com",
    )
    set_limits(
        factory,
        m,
        velocity_intl_attempts=2,
        daily_cap_ceiling=Decimal("1000"),
        intl_daily_cap_ceiling=Decimal("1000"),
    )
    for _ in range(2):
        await connects(events, settings, m, INTL, "442079460000", tmp_path)
    await refused(events, settings, m, INTL, "velocity_tripped", tmp_path)
    mails = await smtp_server.wait_for(2)
    recipients = sorted(r for mail in mails for r in mail.rcpt_tos)
    assert recipients == sorted(["member@example.com", settings.fraud_email])
    assert all("velocity" in mail.message["Subject"] for mail in mails)
    # every billable call of the account is stopped now, domestic too; one trip, one email each
    await refused(events, settings, m, DOMESTIC, "velocity_tripped", tmp_path)
    assert len(smtp_server.messages) == 2
    with factory() as s:
        assert s.scalar(
            text("SELECT tripped_at FROM account_limits WHERE account_id = :a"), {"a": m.account_id}
        )
    # the operator lifts it (the panel's Fraud page calls this, audited: tests/web)
    with transaction(factory) as s:
        assert db_limits.lift(s, m.account_id, actor=None)
    await connects(events, settings, m, DOMESTIC, DOMESTIC, tmp_path)
    # the trip, the domestic attempt it refused, the lift
    assert fraud_kinds(factory, m) == ["velocity_tripped", "velocity_tripped", "velocity_lifted"]


async def test_911_goes_through_when_every_limit_is_tripped(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings)  # no credit, no LD
    set_limits(
        factory,
        m,
        daily_cap=Decimal("0"),
        intl_daily_cap=Decimal("0"),
        max_rate=Decimal("0"),
        max_concurrent=1,
        countries=[],
        tripped_at=dt.datetime.now(dt.UTC),
        tripped_reason="test",
    )
    call = phone_calls(settings, m, "911", tmp_path, timeout=20)
    await events.wait_for(20, UserEvent="SimPstn", Number="911", State="answered")
    await _hang_up_all(controller, call)
