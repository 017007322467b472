"""Demo data for `make up`: two member accounts, an operator admin, a plan, credit, DIDs and a
small rate deck. Idempotent: running it again changes nothing and prints the same logins."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.settings import Settings
from db import accounts
from db.models import (CallingPlan, CreditLot, Did, E911Address, PlanSubscription, RateDeck,
                       User, VirtualNumber)
from db.rates import import_deck

DEMO_RATES = [
    ("1", "United States / Canada", "US", Decimal("0.0150"), Decimal("0"), 6, 6),
    ("1800", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("1888", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("1877", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("1866", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("44", "United Kingdom", "GB", Decimal("0.0300"), Decimal("0"), 60, 60),
    ("447", "United Kingdom mobile", "GB", Decimal("0.1200"), Decimal("0"), 60, 60),
    ("33", "France", "FR", Decimal("0.0350"), Decimal("0"), 60, 60),
    ("52", "Mexico", "MX", Decimal("0.0450"), Decimal("0"), 60, 60),
    ("49", "Germany", "DE", Decimal("0.0320"), Decimal("0"), 60, 60),
]

# login, password, first, last, sip password, vm password, pin
DEMO_MEMBERS = [
    ("17005550101", "Demo-Alice-2026", "Alice", "Anders", "AliceSip2026x", "1234", "4321"),
    ("17005550102", "Demo-Bob-2026", "Bob", "Brown", "BobSip2026xyz", "2345", "5432"),
]
DEMO_ADMIN = ("admin", "Demo-Admin-2026")


def seed(session: Session, settings: Settings) -> list[str]:
    """Returns printable lines naming every demo login."""
    lines = []
    for login, pw, first, last, sip_pw, vm_pw, pin in DEMO_MEMBERS:
        if not session.scalar(select(User.id).where(User.login == login)):
            account, user, vn = accounts.create_account(
                session, login_number=login, password=pw, first_name=first, last_name=last,
                email=f"{first.lower()}@example.test", realm=settings.sip_realm, sip_password=sip_pw,
                city="Springfield", state="IL", country="US", time_zone="America/Chicago")
            accounts.set_vm_password(session, vn, vm_pw)
            accounts.set_pin(session, vn, pin, key=settings.pin_hmac_key)
            accounts.update_options(session, vn, as_primary=True, allow_us_canada_ld=True,
                                    white_pages=True)
            session.add(CreditLot(account_id=account.id, original=Decimal("10.00"),
                                  remaining=Decimal("10.00"), source="demo"))
        lines.append(f"member  {login}  panel password {pw}  SIP password {sip_pw}  "
                     f"VM password {vm_pw}  PIN {pin}")
    if not session.scalar(select(User.id).where(User.login == DEMO_ADMIN[0])):
        accounts.create_admin(session, *DEMO_ADMIN)
    lines.append(f"admin   {DEMO_ADMIN[0]}  password {DEMO_ADMIN[1]}")

    plan = session.scalar(select(CallingPlan).where(CallingPlan.name == "North America 500"))
    if plan is None:
        plan = CallingPlan(name="North America 500", regional_minutes=500, us_canada_minutes=500,
                           monthly_price=Decimal("9.95"))
        session.add(plan)
        session.flush()
        alice = session.scalar(select(VirtualNumber).where(VirtualNumber.number == DEMO_MEMBERS[0][0]))
        today = dt.date.today()
        session.add(PlanSubscription(
            account_id=alice.account_id, plan_id=plan.id, enabled_virtual_number_id=alice.id,
            renew_date=(today.replace(day=1) + dt.timedelta(days=32)).replace(day=1),
            regional_seconds_left=500 * 60, us_canada_seconds_left=500 * 60))
        did = Did(account_id=alice.account_id, number="13125550101", connection="virtual_number",
                  virtual_number_id=alice.id)
        fax = Did(account_id=alice.account_id, number="13125550199", connection="fax_to_email",
                  fax_email="alice@example.test")
        session.add_all([did, fax])
        session.flush()
        session.add(E911Address(did_id=did.id, name="Alice Anders", state="IL", city="Springfield",
                                house_number="100", street_name="Main", street_type="St",
                                postal_code="62701"))
    if not session.scalar(select(RateDeck.id).where(RateDeck.active.is_(True))):
        import_deck(session, "demo", DEMO_RATES)
    session.flush()
    return lines
