"""Advanced Forwarding Option: a virtual number's forwarding plan (steps 1 and 2), its screening
(do not disturb, anonymous callers, find-me confirmation), office hours, and its blocklist.

One submit saves everything (`save_forwarding`). The fields of a part that does not apply (step 2
unless "no special forwarding" is used, the step 1 list unless step 1 rings it, the after-hours
choice without office hours) are neither checked nor stored: what is stored for them is kept, so a
greyed-out part (which a browser does not send) never loses its values.

Every forwarding number is checked the way the call routes will treat it: classified with
controller.rules.numbers.classify in the context of the virtual number (its area code, on-net
numbers, the operator's regional area codes) and allowed by controller.rules.decisions.may_call
with the number's LD permissions, so the panel never accepts a number the call would refuse.

Numbers are stored as normalized digits that classify() reads back to the same destination:
the virtual number for on-net, 1 + 10 digits for North America, 011 + country code + number
for the rest of the world (agi/inbound.py classifies them again at call time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.rules.decisions import Permissions, may_call
from controller.rules.numbers import DialClass, Dialed, area_code, classify
from controller.rules.screening import DAY_BITS, normalize_caller
from db.audit import audit
from db.models import RING_MODES, STEP1, CallBlock, ForwardingRule, RegionalAreaCode, User, VirtualNumber
from webpanel.i18n import _, service_message
from webpanel.validation import FieldErrors

MAX_NUMBERS = 10
MAX_LINE = 32
MAX_BLOCKS = 200


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
        # the number itself is allowed: in a list it rings the number's own phones (agi/inbound.py
        # _target: an on-net number rings its Devices, never the inbound route again), so "ring
        # my phone and my cell together" is a list of the two
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


@dataclass(frozen=True)
class ForwardingInput:
    """Everything the forwarding page submits."""

    step1: str
    step1_list: RingInput
    device_seconds: int | None
    no_answer: RingInput
    busy: RingInput
    no_special: bool = False
    dnd: bool = False
    reject_anonymous: bool = False
    confirm_forwarded: bool = False
    hours_enabled: bool = False
    hours_days: tuple[int, ...] = ()  # weekday() numbers, Monday 0
    hours_open: dt.time | None = None
    hours_close: dt.time | None = None
    after_hours_step1: str = "voicemail"
    after_hours: RingInput = RingInput(False, "simultaneous", 20)


def uses_step2(step1: str, hours_enabled: bool, after_hours_step1: str) -> bool:
    """Step 2 (and the phone's ring time) matter only after "no special forwarding", in office
    hours or after them."""
    return step1 == "none" or (hours_enabled and after_hours_step1 == "none")


def days_mask(days: tuple[int, ...] | list[int]) -> int:
    mask = 0
    for d in days:
        mask |= DAY_BITS[d]
    return mask


def mask_days(mask: int) -> list[int]:
    return [d for d in range(7) if mask & DAY_BITS[d]]


SCREENING = ("dnd", "reject_anonymous", "confirm_forwarded")
OFFICE_HOURS = (
    "hours_enabled",
    "hours_days",
    "hours_open",
    "hours_close",
    "after_hours_step1",
    "after_hours_mode",
    "after_hours_seconds",
    "after_hours_numbers",
)
AUDITED = (
    "step1",
    "step1_mode",
    "step1_seconds",
    "step1_numbers",
    "device_seconds",
    "no_answer_enabled",
    "no_answer_mode",
    "no_answer_seconds",
    "no_answer_numbers",
    "busy_enabled",
    "busy_mode",
    "busy_seconds",
    "busy_numbers",
    *SCREENING,
    *OFFICE_HOURS,
)


def check_forwarding(session: Session, vn: VirtualNumber, data: ForwardingInput) -> dict[str, object]:
    """The columns `data` sets (only the parts that apply), or ForwardingError with every
    problem at once."""
    values, errors = forwarding_values(session, vn, data)
    if errors:
        raise ForwardingError(errors)
    return values


def forwarding_values(
    session: Session, vn: VirtualNumber, data: ForwardingInput
) -> tuple[dict[str, object], dict[str, list[str]]]:
    """The columns `data` sets and the problems found (the live summary shows what the valid
    parts of a half-typed form would do: a bad line is left out, a bad value is not set)."""
    check = _Checker(session, vn)
    values: dict[str, object] = {}
    if data.step1 not in STEP1:
        check.fail("step1", _("Choose where to send your calls."))
    values["step1"] = data.step1
    if data.step1 == "ring_list":
        values["step1_mode"] = check.mode("step1_mode", data.step1_list.mode)
        values["step1_seconds"] = check.seconds("step1_seconds", data.step1_list.seconds)
        values["step1_numbers"] = check.numbers("step1_numbers", data.step1_list.numbers_text, required=True)
    values["hours_enabled"] = data.hours_enabled
    if data.hours_enabled:
        if not data.hours_days or any(not 0 <= d <= 6 for d in data.hours_days):
            check.fail("hours_days", _("Choose at least one day of office hours."))
        else:
            values["hours_days"] = days_mask(data.hours_days)
        if data.hours_open is None:
            check.fail("hours_open", _("Enter the time your office hours start, such as 09:00."))
        if data.hours_close is None:
            check.fail("hours_close", _("Enter the time your office hours end, such as 17:00."))
        if data.hours_open is not None and data.hours_close is not None:
            if data.hours_open == data.hours_close:
                check.fail("hours_close", _("Office hours must end at another time than they start."))
            values["hours_open"], values["hours_close"] = data.hours_open, data.hours_close
        if data.after_hours_step1 not in STEP1:
            check.fail("after_hours_step1", _("Choose what happens to calls after hours."))
        values["after_hours_step1"] = data.after_hours_step1
        if data.after_hours_step1 == "ring_list":
            values["after_hours_mode"] = check.mode("after_hours_mode", data.after_hours.mode)
            values["after_hours_seconds"] = check.seconds("after_hours_seconds", data.after_hours.seconds)
            values["after_hours_numbers"] = check.numbers(
                "after_hours_numbers", data.after_hours.numbers_text, required=True
            )
    if uses_step2(data.step1, data.hours_enabled, data.after_hours_step1):
        values["device_seconds"] = check.seconds("device_seconds", data.device_seconds)
        if data.no_special and (data.no_answer.enabled or data.busy.enabled):
            check.fail("no_special", _('Choose "No special forwarding" or the options above it, not both.'))
        for prefix, ring in (("no_answer", data.no_answer), ("busy", data.busy)):
            enabled = ring.enabled and not data.no_special
            values[f"{prefix}_enabled"] = enabled
            if enabled:  # a list that is off keeps what is stored for it
                values[f"{prefix}_mode"] = check.mode(f"{prefix}_mode", ring.mode)
                values[f"{prefix}_seconds"] = check.seconds(f"{prefix}_seconds", ring.seconds)
                values[f"{prefix}_numbers"] = check.numbers(
                    f"{prefix}_numbers", ring.numbers_text, required=True
                )
    values["dnd"] = data.dnd
    values["reject_anonymous"] = data.reject_anonymous
    values["confirm_forwarded"] = data.confirm_forwarded
    if check.errors:  # a bad seconds value is 0, a bad mode is not a mode: not set
        for name in [n for n, v in values.items() if v == 0 and n.endswith("seconds")]:
            del values[name]
        for name in [n for n, v in values.items() if n.endswith("_mode") and v not in RING_MODES]:
            del values[name]
        if values.get("step1") not in STEP1:
            del values["step1"]
        if values.get("after_hours_step1", "voicemail") not in STEP1:
            del values["after_hours_step1"]
    return values, check.errors


def apply_to(rule: ForwardingRule, values: dict[str, object]) -> ForwardingRule:
    for name, value in values.items():
        setattr(rule, name, value)
    return rule


def save_forwarding(
    session: Session, vn: VirtualNumber, user: User, data: ForwardingInput, *, remote_addr: str = ""
) -> ForwardingRule:
    """Steps 1-3, screening and office hours, all checked, stored together, one audit entry
    naming what changed."""
    values = check_forwarding(session, vn, data)
    rule = rule_for(session, vn)
    before = {name: getattr(rule, name) for name in AUDITED}
    apply_to(rule, values)
    changed = sorted(name for name in AUDITED if getattr(rule, name) != before[name])
    session.flush()
    audit(
        session,
        "forwarding.update",
        actor=user,
        account_id=vn.account_id,
        obj=vn,
        details={
            "changed": changed,
            "step1": rule.step1,
            **_screening_state(rule),
        },
        remote_addr=remote_addr,
    )
    return rule


def _screening_state(rule: ForwardingRule) -> dict[str, bool]:
    """What the audit log records of a rule's screening and office hours after a change."""
    return {name: getattr(rule, name) for name in (*SCREENING, "hours_enabled")}


# --- the REST API's two calls (webpanel/restapi/member.py): step 1, then step 2 -------------


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


def save_parts(
    session: Session,
    vn: VirtualNumber,
    user: User,
    data: ForwardingInput,
    parts: tuple[str, ...],
    *,
    remote_addr: str = "",
) -> ForwardingRule:
    """The REST API's screening and office hours (after save_step1 and save_step2 stored its
    steps): `data` checked by the page's own checker, only the columns of `parts` (SCREENING,
    OFFICE_HOURS) stored, and nothing unless all of them are right. As on the page, office
    hours that are off keep the rest of their values unchecked."""
    values, errors = forwarding_values(session, vn, data)
    errors = {name: messages for name, messages in errors.items() if name in parts}
    if errors:
        raise ForwardingError(errors)
    rule = rule_for(session, vn)
    before = {name: getattr(rule, name) for name in parts}
    apply_to(rule, {name: value for name, value in values.items() if name in parts})
    session.flush()
    audit(
        session,
        "forwarding.screening",
        actor=user,
        account_id=vn.account_id,
        obj=vn,
        details={
            "changed": sorted(name for name in parts if getattr(rule, name) != before[name]),
            **_screening_state(rule),
        },
        remote_addr=remote_addr,
    )
    return rule


# --- presets -------------------------------------------------------------------------------


def cell_digits(pstn_phone: str) -> str:
    """The account's PSTN phone (E.164) as a forwarding list line: 1 + 10 digits for North
    America, 011 + the rest for the world."""
    digits = "".join(c for c in pstn_phone or "" if c.isdigit())
    if not digits:
        return ""
    return digits if digits.startswith("1") else "011" + digits


ROAD_SECONDS = 25


def preset(name: str, cell: str, own: str = "") -> dict[str, object]:
    """The form values a preset fills in (the member reviews them and saves).
    office: ring your phone 20 s, then voicemail. road: ring your phone (`own`, the virtual
    number: its devices) and your cell together for 25 s, then voicemail; `cell` empty leaves
    the list for the member to finish. vacation: do not disturb (straight to voicemail)."""
    if name == "office":
        return {
            "dnd": False,
            "step1": "none",
            "device_seconds": 20,
            "no_special": True,
            "no_answer_enabled": False,
            "busy_enabled": False,
        }
    if name == "road":
        return {
            "dnd": False,
            "step1": "ring_list",
            "step1_mode": "simultaneous",
            "step1_seconds": ROAD_SECONDS,
            "step1_numbers": "\n".join(n for n in (own, cell) if n),
        }
    if name == "vacation":
        return {"dnd": True}
    raise ValueError(name)


# --- call blocking -------------------------------------------------------------------------

_BLOCK_CHARS = set("0123456789+-() .")
BLOCK_UNIQUE = "uq_call_blocks_number"  # db.models.CallBlock: one row per number blocked


def blocks(session: Session, vn: VirtualNumber) -> list[CallBlock]:
    return list(
        session.scalars(
            select(CallBlock)
            .where(CallBlock.virtual_number_id == vn.id)
            .order_by(CallBlock.number, CallBlock.id)
        )
    )


def add_block(
    session: Session, vn: VirtualNumber, user: User, number: str, note: str = "", *, remote_addr: str = ""
) -> CallBlock:
    """Block a caller ID (stored as screening.normalize_caller digits, the form calls are
    compared in). At most MAX_BLOCKS a number; a number already blocked is refused."""
    check = _Checker(session, vn)
    raw = (number or "").strip()
    digits = normalize_caller(raw)
    if not raw or set(raw) - _BLOCK_CHARS or not 2 <= len(digits) <= MAX_LINE:
        check.fail(
            "number", _("Enter a phone number: digits, with spaces, dashes or a leading + if you like.")
        )
    elif session.scalar(
        select(CallBlock.id).where(CallBlock.virtual_number_id == vn.id, CallBlock.number == digits)
    ):
        check.fail("number", _("%(number)s is already blocked.", number=digits))
    elif (
        session.scalar(
            select(func.count()).select_from(CallBlock).where(CallBlock.virtual_number_id == vn.id)
        )
        or 0
    ) >= MAX_BLOCKS:
        check.fail("number", _("You can block at most %(max)s numbers; remove one first.", max=MAX_BLOCKS))
    note = (note or "").strip()
    if len(note) > 80:
        check.fail("note", _("A note has at most 80 characters."))
    if check.errors:
        raise ForwardingError(check.errors)
    block = CallBlock(virtual_number_id=vn.id, number=digits, note=note)
    try:
        # a savepoint: another request blocking the same number at the same moment passed the
        # read above too; its row wins (the unique index makes this INSERT wait for its commit)
        with session.begin_nested():
            session.add(block)
    except IntegrityError as exc:
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) != BLOCK_UNIQUE:
            raise
        check.fail("number", _("%(number)s is already blocked.", number=digits))
        raise ForwardingError(check.errors) from None
    audit(
        session,
        "forwarding.block_add",
        actor=user,
        account_id=vn.account_id,
        obj=vn,
        details={"number": digits, "note": note},
        remote_addr=remote_addr,
    )
    return block


def remove_block(
    session: Session, vn: VirtualNumber, user: User, block_id: int, *, remote_addr: str = ""
) -> CallBlock | None:
    block = session.get(CallBlock, block_id)
    if block is None or block.virtual_number_id != vn.id:
        return None
    session.delete(block)
    session.flush()
    audit(
        session,
        "forwarding.block_remove",
        actor=user,
        account_id=vn.account_id,
        obj=vn,
        details={"number": block.number},
        remote_addr=remote_addr,
    )
    return block
