"""What happens to a call before (and instead of) the forwarding plan (issue 16). Pure.

The inbound route (agi/inbound.py) and the panel's summary and "what happens if I'm called
now" simulator (webpanel/forwarding) both call `decide` and `paths`, so what the page says is
what a call does:

1. a blocked caller ID is refused; so is a caller without one when "reject anonymous callers"
   is on;
2. do not disturb: nothing rings, step 3 at once (voicemail, or hang up);
3. office hours (in the account's time zone): outside them, step 1 is the after-hours choice
   (step 2 and 3 as set); inside them, the plan as set;
4. find-me confirmation rides on each list Ring (Ring.confirm).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from dataclasses import dataclass

from controller.rules.forwarding import (
    ForwardingSettings,
    Hangup,
    Outcome,
    Plan,
    Ring,
    RingList,
    Step,
    Step1,
    Voicemail,
)

# bit of each weekday in hours_days (datetime.weekday(): Monday 0 ... Sunday 6)
DAY_BITS = tuple(1 << d for d in range(7))
WEEKDAYS = 0b0011111  # Monday to Friday, the default
EVERY_DAY = 0b1111111

# caller IDs that say "no number" (Asterisk's and carriers' spellings)
_ANONYMOUS = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_NOT_DIGITS = re.compile(r"[^0-9]")


@dataclass(frozen=True)
class OfficeHours:
    days: int  # bit mask, DAY_BITS
    opens: dt.time
    closes: dt.time  # before `opens`: the hours span midnight (the day is the one they open on)

    def is_open(self, local: dt.datetime) -> bool:
        """Are these hours open at `local` (the account's local wall time)?"""
        t = local.time().replace(tzinfo=None)
        today = bool(self.days & DAY_BITS[local.weekday()])
        if self.opens < self.closes:
            return today and self.opens <= t < self.closes
        # overnight: open from `opens` on an open day until `closes` the next morning
        yesterday = bool(self.days & DAY_BITS[(local.weekday() - 1) % 7])
        return (today and t >= self.opens) or (yesterday and t < self.closes)


@dataclass(frozen=True)
class Screening:
    """A number's screening and schedule (forwarding_rules' issue 16 columns + call_blocks)."""

    dnd: bool = False
    reject_anonymous: bool = False
    blocked: frozenset[str] = frozenset()  # normalized caller IDs (normalize_caller)
    hours: OfficeHours | None = None  # None: no schedule, the plan as set at every hour
    after_hours: Step1 = Step1.VOICEMAIL
    after_hours_list: RingList | None = None


class Refusal(str, enum.Enum):
    BLOCKED = "blocked"
    ANONYMOUS = "anonymous"


class Why(str, enum.Enum):
    """Why the plan that runs is the one it is (the simulator says it in words)."""

    ALWAYS = "always"  # no schedule
    OFFICE_HOURS = "office_hours"
    AFTER_HOURS = "after_hours"
    DND = "dnd"
    REFUSED = "refused"


@dataclass(frozen=True)
class Decision:
    refusal: Refusal | None  # not None: the caller is refused, nothing rings
    why: Why
    settings: ForwardingSettings  # the plan to run (when not refused)


def normalize_caller(caller: str) -> str:
    """A caller ID (or a blocklist entry) as digits, North American numbers as their 10 digits:
    "+1 (312) 555-0100", "13125550100" and "3125550100" are one number; the rest of the world
    without the 011 a member dials it with ("011 44 20 ..." is the caller ID "+44 20 ...")."""
    digits = _NOT_DIGITS.sub("", caller or "")
    if digits.startswith("011") and len(digits) >= 10:
        digits = digits[3:]
    if len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    return digits


def is_anonymous(caller: str) -> bool:
    """No usable caller ID: empty, a word for "withheld", or no digits at all."""
    text = (caller or "").strip().lower()
    return text in _ANONYMOUS or not normalize_caller(text)


def decide(
    screening: Screening,
    settings: ForwardingSettings,
    caller: str,
    local_now: dt.datetime,
    *,
    withheld: bool = False,
) -> Decision:
    """What a call from `caller` (the caller ID as received) at `local_now` (the account's local
    time) gets. `withheld`: its presentation is restricted (*67): it is anonymous for "reject
    anonymous callers", yet its number (which the network still gives us) is on the blocklist
    or not: withholding it does not get a blocked caller through."""
    if not is_anonymous(caller) and normalize_caller(caller) in screening.blocked:
        return Decision(Refusal.BLOCKED, Why.REFUSED, settings)
    if screening.reject_anonymous and (withheld or is_anonymous(caller)):
        return Decision(Refusal.ANONYMOUS, Why.REFUSED, settings)
    if screening.dnd:
        return Decision(None, Why.DND, dataclasses.replace(settings, step1=Step1.VOICEMAIL))
    if screening.hours is None:
        return Decision(None, Why.ALWAYS, settings)
    if screening.hours.is_open(local_now):
        return Decision(None, Why.OFFICE_HOURS, settings)
    after = dataclasses.replace(settings, step1=screening.after_hours, step1_list=screening.after_hours_list)
    return Decision(None, Why.AFTER_HOURS, after)


def paths(settings: ForwardingSettings) -> dict[Outcome, list[Step]]:
    """Every step a call walks when nothing answers (Outcome.NOANSWER) and when every ring is
    busy (Outcome.BUSY), walked by the same Plan the call runs. The two are equal when step 2
    does not tell them apart."""
    walks: dict[Outcome, list[Step]] = {}
    for outcome in (Outcome.NOANSWER, Outcome.BUSY):
        plan = Plan(settings)
        steps: list[Step] = []
        step: Step | None = plan.first()
        while step is not None:
            steps.append(step)
            if not isinstance(step, Ring):
                break
            step = plan.after(outcome)
        walks[outcome] = steps
    return walks


__all__ = [
    "DAY_BITS",
    "EVERY_DAY",
    "WEEKDAYS",
    "Decision",
    "Hangup",
    "OfficeHours",
    "Refusal",
    "Screening",
    "Voicemail",
    "Why",
    "decide",
    "is_anonymous",
    "normalize_caller",
    "paths",
]
