"""Advanced Forwarding Option: steps 1 and 2 of a virtual number's forwarding plan.

Every forwarding number is checked the way the call routes will treat it: classified with
controller.rules.numbers.classify in the context of the virtual number (its area code, on-net
numbers, the operator's regional area codes) and allowed by controller.rules.decisions.may_call
with the number's LD permissions, so the panel never accepts a number the call would refuse.

Numbers are stored as normalized digits that classify() reads back to the same destination:
the virtual number for on-net, 1 + 10 digits for North America, 011 + country code + number
for the rest of the world (agi/inbound.py classifies them again at call time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.rules.decisions import Permissions, may_call
from controller.rules.numbers import DialClass, Dialed, area_code, classify
from db.audit import audit
from db.models import RING_MODES, STEP1, ForwardingRule, RegionalAreaCode, User, VirtualNumber
from webpanel.i18n import _, service_message
from webpanel.validation import FieldErrors

MAX_NUMBERS = 10
MAX_LINE = 32


class ForwardingError(FieldErrors):
    """Bad input; `errors` maps each form field to its messages (shown next to the field)."""


@dataclass(frozen=True)
class RingInput:
    """One "[simultaneously/sequentially] ring my list of numbers for [XX] seconds" line."""

    enabled: bool
    mode: str
    seconds: int | None
    numbers_text: str = ""


@dataclass
class _Checker:
    session: Session
    vn: VirtualNumber
    errors: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.perms = Permissions(self.vn.allow_us_canada_ld, self.vn.allow_international_ld)
        own = area_code(self.vn.number)
        self.regional = (
            set(
                self.session.scalars(
                    select(RegionalAreaCode.regional_area_code).where(RegionalAreaCode.area_code == own)
                )
            )
            if own
            else set()
        )
        self._on_net: dict[str, bool] = {}

    def is_on_net(self, candidate: str) -> bool:
        if candidate not in self._on_net:
            self._on_net[candidate] = (
                self.session.scalar(select(VirtualNumber.id).where(VirtualNumber.number == candidate))
                is not None
            )
        return self._on_net[candidate]

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def mode(self, name: str, value: str) -> str:
        if value not in RING_MODES:
            self.fail(name, _("Choose simultaneously or sequentially."))
        return value

    def seconds(self, name: str, value: int | None) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 99:
            self.fail(name, _("Enter a number of seconds from 1 to 99."))
            return 0
        return value

    def numbers(self, name: str, text: str, *, required: bool) -> list[str]:
        lines = [(i, line.strip()) for i, line in enumerate((text or "").splitlines(), start=1)]
        entries = [(i, line) for i, line in lines if line]
        if not entries:
            if required:
                self.fail(name, _("Enter at least one phone number (one per line)."))
            return []
        if len(entries) > MAX_NUMBERS:
            self.fail(
                name,
                _(
                    "Enter at most %(max)s numbers (one per line); this list has %(count)s.",
                    max=MAX_NUMBERS,
                    count=len(entries),
                ),
            )
            return []
        stored: list[str] = []
        for lineno, raw in entries:
            shown = raw if len(raw) <= MAX_LINE else raw[:MAX_LINE] + "…"
            where = _("Line %(line)s (%(number)s)", line=lineno, number=shown)
            dialed = classify(
                raw, caller_number=self.vn.number, is_on_net=self.is_on_net, regional_area_codes=self.regional
            )
            problem = self._refusal(dialed)
            if problem:
                self.fail(name, _("%(where)s: %(problem)s", where=where, problem=problem))
                continue
            digits = dialable(dialed)
            if digits not in stored:
                stored.append(digits)
        return stored

    def _refusal(self, dialed: Dialed) -> str:
        if dialed.dial_class is DialClass.EMERGENCY:
            return _("911 cannot be a forwarding number; emergency calls are never forwarded.")
        if dialed.dial_class is DialClass.ON_NET and dialed.digits == self.vn.number:
            return _("that is this virtual number itself.")
        verdict = may_call(self.perms, dialed)
        return "" if verdict.allowed else service_message(verdict.message)


def dialable(dialed: Dialed) -> str:
    """The digits that classify() turns back into the same destination."""
    if dialed.dial_class is DialClass.ON_NET or dialed.digits.startswith("1"):
        return dialed.digits
    return "011" + dialed.digits


def rule_for(session: Session, vn: VirtualNumber) -> ForwardingRule:
    rule = session.get(ForwardingRule, vn.id)
    if rule is None:  # numbers get their rule when created; older rows may lack one
        rule = ForwardingRule(virtual_number_id=vn.id)
        session.add(rule)
        session.flush()
    return rule


def save_step1(
    session: Session,
    vn: VirtualNumber,
    user: User,
    *,
    step1: str,
    ring: RingInput,
    device_seconds: int | None,
    remote_addr: str = "",
) -> ForwardingRule:
    """Step 1: voicemail at once, ring the list, or no special forwarding (ring the member's
    phones for `device_seconds`, then step 2). All fields are checked; nothing is stored
    unless every one is right."""
    check = _Checker(session, vn)
    if step1 not in STEP1:
        check.fail("step1", _("Choose where to send your calls."))
    mode = check.mode("step1_mode", ring.mode)
    seconds = check.seconds("step1_seconds", ring.seconds)
    numbers = check.numbers("step1_numbers", ring.numbers_text, required=step1 == "ring_list")
    device = check.seconds("device_seconds", device_seconds)
    if check.errors:
        raise ForwardingError(check.errors)
    rule = rule_for(session, vn)
    rule.step1, rule.step1_mode, rule.step1_seconds = step1, mode, seconds
    rule.step1_numbers, rule.device_seconds = numbers, device
    session.flush()
    audit(
        session,
        "forwarding.step1",
        actor=user,
        account_id=vn.account_id,
        obj=vn,
        details={"step1": step1, "mode": mode, "seconds": seconds, "numbers": len(numbers)},
        remote_addr=remote_addr,
    )
    return rule


def save_step2(
    session: Session,
    vn: VirtualNumber,
    user: User,
    *,
    no_answer: RingInput,
    busy: RingInput,
    no_special: bool,
    remote_addr: str = "",
) -> ForwardingRule:
    """Step 2 (used after "No special forwarding" in step 1): on no answer ring list A, on
    busy ring list B; "No special forwarding" sends the unanswered call to step 3."""
    check = _Checker(session, vn)
    if no_special and (no_answer.enabled or busy.enabled):
        check.fail("no_special", _('Choose "No special forwarding" or the options above it, not both.'))
    lists = {}
    for prefix, ring in (("no_answer", no_answer), ("busy", busy)):
        lists[prefix] = (
            check.mode(f"{prefix}_mode", ring.mode),
            check.seconds(f"{prefix}_seconds", ring.seconds),
            check.numbers(f"{prefix}_numbers", ring.numbers_text, required=ring.enabled),
        )
    if check.errors:
        raise ForwardingError(check.errors)
    rule = rule_for(session, vn)
    rule.no_answer_enabled = no_answer.enabled and not no_special
    rule.no_answer_mode, rule.no_answer_seconds, rule.no_answer_numbers = lists["no_answer"]
    rule.busy_enabled = busy.enabled and not no_special
    rule.busy_mode, rule.busy_seconds, rule.busy_numbers = lists["busy"]
    session.flush()
    audit(
        session,
        "forwarding.step2",
        actor=user,
        account_id=vn.account_id,
        obj=vn,
        details={"no_answer": rule.no_answer_enabled, "busy": rule.busy_enabled},
        remote_addr=remote_addr,
    )
    return rule
