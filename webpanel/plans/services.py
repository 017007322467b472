"""Plan Information: what the account's calling plans and pay-as-you-go credit hold, and which
phone each plan's minutes apply to."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.audit import audit
from db.errors import ServiceError
from db.models import CallingPlan, CreditLot, PlanSubscription, User, VirtualNumber
from webpanel.i18n import _


@dataclass(frozen=True)
class PlanRow:
    subscription: PlanSubscription
    plan: CallingPlan
    enabled_number: str

    @property
    def regional_total(self) -> int:
        return self.plan.regional_minutes * 60

    @property
    def us_canada_total(self) -> int:
        return self.plan.us_canada_minutes * 60

    @property
    def seconds_left(self) -> int:
        return self.subscription.regional_seconds_left + self.subscription.us_canada_seconds_left


def plans(session: Session, user: User) -> list[PlanRow]:
    """The account's active plans; a secondary user sees the plans enabled on their number."""
    query = (
        select(PlanSubscription, CallingPlan, VirtualNumber.number)
        .join(CallingPlan, CallingPlan.id == PlanSubscription.plan_id)
        .outerjoin(VirtualNumber, VirtualNumber.id == PlanSubscription.enabled_virtual_number_id)
        .where(PlanSubscription.account_id == user.account_id, PlanSubscription.active.is_(True))
        .order_by(PlanSubscription.id)
    )
    if user.role != "primary":
        query = query.where(PlanSubscription.enabled_virtual_number_id == user.virtual_number_id)
    return [PlanRow(sub, plan, number or "") for sub, plan, number in session.execute(query)]


def credit_lots(session: Session, account_id: int) -> list[CreditLot]:
    return list(
        session.scalars(
            select(CreditLot)
            .where(CreditLot.account_id == account_id)
            .order_by(CreditLot.purchased_at.desc(), CreditLot.id.desc())
        )
    )


def credit_remaining(lots: list[CreditLot]) -> Decimal:
    return sum((lot.remaining for lot in lots), Decimal("0"))


def set_enabled_phone(
    session: Session, subscription: PlanSubscription, user: User, number: str, *, remote_addr: str = ""
) -> VirtualNumber:
    """Assign the plan's minutes to one of the account's virtual numbers."""
    if user.role != "primary" or subscription.account_id != user.account_id:
        raise ServiceError(_("Only the primary account holder can choose the enabled phone."))
    vn = session.scalar(
        select(VirtualNumber).where(
            VirtualNumber.account_id == subscription.account_id, VirtualNumber.number == number
        )
    )
    if vn is None:
        raise ServiceError(_("Choose one of your virtual numbers."))
    subscription.enabled_virtual_number_id = vn.id
    session.flush()
    audit(
        session,
        "plan.enabled_phone",
        actor=user,
        account_id=subscription.account_id,
        obj=subscription,
        details={"virtual_number": vn.number},
        remote_addr=remote_addr,
    )
    return vn
