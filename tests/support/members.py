"""Members, DIDs, forwarding and money for call tests, through the service layer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import update

from db import accounts
from db.models import CreditLot, Did, ForwardingRule, VirtualNumber
from tests.support.realparts import unique_number


@dataclass
class TestMember:
    number: str
    sip_password: str
    account_id: int
    vn_id: int


def make_member(
    factory,
    settings,
    *,
    sip_password: str = "Member-Pass-123",
    credit: str | None = None,
    number: str | None = None,
    **options,
) -> TestMember:
    number = number or unique_number()
    with factory() as s, s.begin():
        account, user, vn = accounts.create_account(
            s,
            login_number=number,
            password="Panel-Pass-1234",
            first_name="Test",
            last_name="Member",
            realm=settings.sip_realm,
            sip_password=sip_password,
        )
        if options:
            accounts.update_options(s, vn, as_primary=True, **options)
        if credit is not None:
            s.add(
                CreditLot(
                    account_id=account.id, original=Decimal(credit), remaining=Decimal(credit), source="admin"
                )
            )
        return TestMember(number, sip_password, account.id, vn.id)


def add_did(factory, member: TestMember, number: str | None = None) -> str:
    number = number or unique_number("1312")
    with factory() as s, s.begin():
        s.add(
            Did(
                account_id=member.account_id,
                number=number,
                connection="virtual_number",
                virtual_number_id=member.vn_id,
            )
        )
    return number


def set_forwarding(factory, member: TestMember, **fields) -> None:
    with factory() as s, s.begin():
        s.execute(
            update(ForwardingRule).where(ForwardingRule.virtual_number_id == member.vn_id).values(**fields)
        )


def set_options(factory, member: TestMember, **fields) -> None:
    with factory() as s, s.begin():
        s.execute(update(VirtualNumber).where(VirtualNumber.id == member.vn_id).values(**fields))
