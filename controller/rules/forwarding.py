"""The Advanced Forwarding Option as a plan of steps. Pure: the inbound route executes it.

Step 1: voicemail at once; ring a list (simultaneously or sequentially) for N s; or ring the
member's own devices. Step 2 (only after "no special forwarding"): on no answer ring list A,
on busy ring list B. Step 3: voicemail if enabled, else hang up with the right cause.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(str, enum.Enum):
    ANSWER = "ANSWER"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"


class Step1(str, enum.Enum):
    """What the member chose for step 1. The values are the ones stored in forwarding_rules.step1
    (db.models.STEP1), so a row's string converts with Step1(row.step1)."""

    VOICEMAIL = "voicemail"  # straight to step 3
    RING_LIST = "ring_list"  # ring step1_list, then step 3
    NONE = "none"  # "no special forwarding": the member's devices, then step 2, then step 3


class RingMode(str, enum.Enum):
    """How a list rings; the values are the stored ones (db.models.RING_MODES)."""

    SIMULTANEOUS = "simultaneous"
    SEQUENTIAL = "sequential"


class HangupCause(enum.IntEnum):
    """Q.850 causes step 3 hangs up with when voicemail is off."""

    USER_BUSY = 17
    NO_ANSWER = 19


@dataclass(frozen=True)
class RingList:
    numbers: tuple[str, ...]
    mode: RingMode
    seconds: int


@dataclass(frozen=True)
class ForwardingSettings:
    """A snapshot of forwarding_rules + the number's voicemail switch."""

    step1: Step1 = Step1.NONE
    step1_list: RingList | None = None
    device_seconds: int = 20
    no_answer_list: RingList | None = None  # step 2, when enabled
    busy_list: RingList | None = None  # step 2, when enabled
    voicemail_enabled: bool = True
    # issue 16, find-me confirmation: a leg rung from a list must press 1 to take the call
    confirm_forwarded: bool = False


@dataclass(frozen=True)
class Ring:
    """Ring these targets; `device` means the member's own registered devices."""

    targets: tuple[str, ...]
    mode: RingMode
    seconds: int
    device: bool = False
    # the answering leg must press 1 before it is connected (find-me confirmation, issue 16)
    confirm: bool = False


@dataclass(frozen=True)
class Voicemail:
    """Step 3 with voicemail on: the caller leaves a message for the member."""


@dataclass(frozen=True)
class Hangup:
    """Step 3 with voicemail off: hang up with this cause."""

    cause: HangupCause


VOICEMAIL = Voicemail()

# One step of a plan: ring and wait for the outcome, or one of the two last steps
Step = Ring | Voicemail | Hangup


def dial_status_outcome(dialstatus: str) -> Outcome:
    """Asterisk's DIALSTATUS folded into what forwarding cares about."""
    if dialstatus == "ANSWER":
        return Outcome.ANSWER
    if dialstatus == "BUSY":
        return Outcome.BUSY
    # NOANSWER, CHANUNAVAIL (no device registered), CONGESTION, CANCEL, DONTCALL...
    return Outcome.NOANSWER


@dataclass
class Plan:
    """Walk it: `first()` gives the first step; `after(outcome)` the next one after a Ring, or
    None when the call was answered (nothing left to do). Voicemail and Hangup end the walk."""

    settings: ForwardingSettings
    stage: int = 0  # 1 ringing the step 1 list, 2 the devices, 3 a step 2 list, 4 step 3

    def first(self) -> Step:
        s = self.settings
        if s.step1 == Step1.VOICEMAIL:
            return self._final(Outcome.NOANSWER)
        if s.step1 == Step1.RING_LIST and s.step1_list and s.step1_list.numbers:
            self.stage = 1
            return Ring(
                s.step1_list.numbers, s.step1_list.mode, s.step1_list.seconds, confirm=s.confirm_forwarded
            )
        self.stage = 2
        return Ring((), RingMode.SIMULTANEOUS, s.device_seconds, device=True)

    def after(self, outcome: Outcome) -> Step | None:
        if outcome is Outcome.ANSWER:
            return None
        s = self.settings
        if self.stage == 2:  # the member's devices rang under "no special forwarding"
            self.stage = 3
            nxt = s.busy_list if outcome is Outcome.BUSY else s.no_answer_list
            if nxt and nxt.numbers:
                return Ring(nxt.numbers, nxt.mode, nxt.seconds, confirm=s.confirm_forwarded)
        return self._final(outcome)

    def _final(self, outcome: Outcome) -> Voicemail | Hangup:
        self.stage = 4
        if self.settings.voicemail_enabled:
            return VOICEMAIL
        return Hangup(HangupCause.USER_BUSY if outcome is Outcome.BUSY else HangupCause.NO_ANSWER)
