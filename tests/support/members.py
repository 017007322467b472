"""Test members, made one way for every tier: `new_member` creates an account with its primary
holder and first virtual number through the service layer (db.accounts), plus what a tier asks
for on top (a SIP password, options, credit lots, a calling plan, a credit limit).

The tiers' own makers bind their database and defaults to it:
- `make_member(factory, settings, ...)`: the call tiers (a member with a SIP password to register);
- the `make_member` fixture (`make_panel_member`, imported by tests/web and tests/browser
  conftests): `make_member(password=..., **account_fields)` for the panel;
- tests/billing's `member` fixture: credit lots and plans on the billing tests' own database.
DIDs, forwarding and options of an existing member: `add_did`, `set_forwarding`, `set_options`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from controller.settings import Settings
from db import accounts
from db.models import CallingPlan, CreditLot, Did, ForwardingRule, PlanSubscription, VirtualNumber
from db.session import transaction
from tests.support.realparts import unique_number

PANEL_PASSWORD = "Panel-pass-2026"  # the panel tiers' login password
CALLER_PANEL_PASSWORD = "Panel-Pass-1234"  # the call tiers' (tests/voicemail/test_greeting.py logs in)
CALLER_SIP_PASSWORD = "Member-Pass-123"

_plans = itertools.count(1)


@dataclass(frozen=True)
class Member:
    """A member as the tests see it: ids, the login and its password, the SIP password it
    registers with (call tiers), the plan subscription (billing)."""

    account_id: int
    user_id: int
    virtual_number_id: int
    number: str
    login: str
    password: str
    sip_password: str = ""
    subscription_id: int | None = None

    @property
    def vn_id(self) -> int:
        """The call and billing tiers' name for virtual_number_id."""
        return self.virtual_number_id


def new_member(
    factory: sessionmaker[Session],
    *,
    realm: str,
    password: str = PANEL_PASSWORD,
    number: str | None = None,
    sip_password: str | None = None,
    options: Mapping[str, bool] | None = None,
    credit: Sequence[str] = (),
    credit_since: dt.datetime | None = None,
    plan: tuple[int, int] | None = None,
    credit_limit: Decimal | None = None,
    first_name: str = "Test",
    last_name: str = "Member",
    **fields: Any,
) -> Member:
    """A committed member. `fields` are the account's (time_zone, language, email...);
    `options` the virtual number's, set as its primary holder would. `credit` is the amounts of
    its credit lots, oldest first: bought now, or one a day from `credit_since`. `plan` is a
    calling plan subscription's (regional, US/Canada) seconds left."""
    with transaction(factory) as s:
        account, user, vn = accounts.create_account(
            s,
            login_number=number or unique_number(),
            password=password,
            first_name=first_name,
            last_name=last_name,
            realm=realm,
            sip_password=sip_password,
            **fields,
        )
        if options:
            accounts.update_options(s, vn, as_primary=True, **options)
        if credit_limit is not None:
            vn.credit_limit = credit_limit
        for i, amount in enumerate(credit):
            bought = {} if credit_since is None else {"purchased_at": credit_since + dt.timedelta(days=i)}
            s.add(
                CreditLot(
                    account_id=account.id,
                    original=Decimal(amount),
                    remaining=Decimal(amount),
                    source="admin",
                    **bought,
                )
            )
        subscription_id = _subscribe(s, account.id, vn.id, plan) if plan is not None else None
        s.flush()
        return Member(
            account.id,
            user.id,
            vn.id,
            vn.number,
            user.login,
            password,
            sip_password=sip_password or "",
            subscription_id=subscription_id,
        )


def _subscribe(s: Session, account_id: int, vn_id: int, seconds_left: tuple[int, int]) -> int:
    plan = CallingPlan(name=f"test plan {os.getpid()}-{next(_plans)}")
    s.add(plan)
    s.flush()
    sub = PlanSubscription(
        account_id=account_id,
        plan_id=plan.id,
        enabled_virtual_number_id=vn_id,
        renew_date=dt.date(2027, 1, 1),
        regional_seconds_left=seconds_left[0],
        us_canada_seconds_left=seconds_left[1],
    )
    s.add(sub)
    s.flush()
    return sub.id


def make_member(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    sip_password: str = CALLER_SIP_PASSWORD,
    credit: str | None = None,
    number: str | None = None,
    **options: bool,
) -> Member:
    """A member for call tests: registers with `sip_password`, one credit lot of `credit`,
    virtual number `options` (allow_us_canada_ld=True...)."""
    return new_member(
        factory,
        realm=settings.sip_realm,
        password=CALLER_PANEL_PASSWORD,
        number=number,
        sip_password=sip_password,
        options=options,
        credit=() if credit is None else (credit,),
    )


@pytest.fixture(name="make_member")
def make_panel_member(factory, database) -> Callable[..., Member]:
    """A committed account with its primary holder (logs in with its first virtual number):
    `make_member(password=PANEL_PASSWORD, **account_fields)`."""

    def make(password: str = PANEL_PASSWORD, **fields: Any) -> Member:
        return new_member(factory, realm=database.sip_realm, password=password, **fields)

    return make


def add_did(factory: sessionmaker[Session], member: Member, number: str | None = None) -> str:
    number = number or unique_number("1312")
    with transaction(factory) as s:
        s.add(
            Did(
                account_id=member.account_id,
                number=number,
                connection="virtual_number",
                virtual_number_id=member.vn_id,
            )
        )
    return number


def set_forwarding(factory: sessionmaker[Session], member: Member, **fields: Any) -> None:
    with transaction(factory) as s:
        s.execute(
            update(ForwardingRule).where(ForwardingRule.virtual_number_id == member.vn_id).values(**fields)
        )


def set_options(factory: sessionmaker[Session], member: Member, **fields: Any) -> None:
    with transaction(factory) as s:
        s.execute(update(VirtualNumber).where(VirtualNumber.id == member.vn_id).values(**fields))
