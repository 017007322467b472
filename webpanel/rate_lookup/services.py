"""Rate Lookup: where a number is, what a minute to it costs, which calling plans cover it.

The same code as a real call (DESIGN 2): controller.rules.numbers.classify with what the outbound
route passes it (on-net numbers, the caller's regional area codes), controller.rules.decisions.may_call
with the calling number's permissions, and db.billing.sql_lookup, the rater's longest-prefix
match in the active rate deck.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from controller.rules.decisions import Permissions, Verdict, may_call
from controller.rules.numbers import DialClass, Dialed, area_code, classify
from controller.rules.rating import Rate
from db import billing
from db.errors import ServiceError
from db.models import CallingPlan, PlanSubscription, RegionalAreaCode, VirtualNumber
from webpanel.choices import country_name
from webpanel.i18n import _, service_message
from webpanel.i18n import lazy_gettext as _l

CLASS_LABELS = {
    DialClass.ON_NET: _l("On-net: another member's virtual number (free)"),
    DialClass.EMERGENCY: _l("Emergency 911 (always allowed, free)"),
    DialClass.TOLL_FREE: _l("Toll-free (free)"),
    DialClass.REGIONAL: _l("Regional"),
    DialClass.DOMESTIC: _l("Domestic: continental US and Canada"),
    DialClass.INTERNATIONAL: _l("International"),
}


@dataclass(frozen=True)
class PlanOption:
    plan: CallingPlan
    yours: bool  # the account has it, enabled on the calling number


@dataclass(frozen=True)
class Lookup:
    dialed: Dialed
    rate: Rate | None
    plans: list[PlanOption]
    verdict: Verdict

    @property
    def class_label(self) -> str:
        return CLASS_LABELS.get(self.dialed.dial_class, "")

    @property
    def free(self) -> bool:
        return not self.dialed.billable

    @property
    def country(self) -> str:
        return self.dialed.country or (self.rate.country if self.rate else "")

    @property
    def country_name(self) -> str:
        return country_name(self.country) if self.country else self.dialed.country_name

    @property
    def refusal(self) -> str:
        """Why the calling number may not call this one, in the member's language."""
        return "" if self.verdict.allowed else service_message(self.verdict.message)


def plans_covering(dial_class: DialClass) -> str | None:
    """Which plan minutes a destination class may use (controller.rules.money.PlanBalance.seconds_for):
    regional calls use regional then US & Canada minutes, domestic calls US & Canada minutes,
    international calls none."""
    if dial_class is DialClass.REGIONAL:
        return "regional"
    if dial_class is DialClass.DOMESTIC:
        return "domestic"
    return None


def lookup(session: Session, raw: str, caller: VirtualNumber) -> Lookup:
    def on_net(candidate: str) -> bool:
        return bool(session.scalar(select(exists().where(VirtualNumber.number == candidate))))

    mine = area_code(caller.number)
    regional = (
        set(
            session.scalars(
                select(RegionalAreaCode.regional_area_code).where(RegionalAreaCode.area_code == mine)
            )
        )
        if mine
        else set()
    )
    dialed = classify(raw, caller_number=caller.number, is_on_net=on_net, regional_area_codes=regional)
    if dialed.dial_class is DialClass.INVALID:
        if dialed.reason.startswith("dial "):
            raise ServiceError(
                _("That is not a number we can call: %(reason)s.", reason=service_message(dialed.reason))
            )
        raise ServiceError(
            _(
                "That is not a number we can call (%(reason)s). Type the number as you "
                "would dial it: 1 + area code + number, or 011 + country code + number.",
                reason=service_message(dialed.reason),
            )
        )
    rate = billing.sql_lookup(session, dialed.digits) if dialed.billable else None
    verdict = may_call(Permissions(caller.allow_us_canada_ld, caller.allow_international_ld), dialed)
    return Lookup(dialed, rate, _plans(session, dialed.dial_class, caller), verdict)


def _plans(session: Session, dial_class: DialClass, caller: VirtualNumber) -> list[PlanOption]:
    covering = plans_covering(dial_class)
    if covering is None:
        return []
    query = select(CallingPlan).where(CallingPlan.active.is_(True))
    if covering == "regional":
        query = query.where((CallingPlan.regional_minutes > 0) | (CallingPlan.us_canada_minutes > 0))
    else:
        query = query.where(CallingPlan.us_canada_minutes > 0)
    plans = session.scalars(query.order_by(CallingPlan.monthly_price, CallingPlan.name)).all()
    yours = set(
        session.scalars(
            select(PlanSubscription.plan_id).where(
                PlanSubscription.account_id == caller.account_id,
                PlanSubscription.active.is_(True),
                PlanSubscription.enabled_virtual_number_id == caller.id,
            )
        )
    )
    return [PlanOption(p, p.id in yours) for p in plans]
