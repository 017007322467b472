"""The Advanced Forwarding Option as a plan of steps. Pure: the inbound route executes it.

Step 1: voicemail at once; ring a list (simultaneously or sequentially) for N s; or ring the
member's own devices. Step 2 (only after "no special forwarding"): on no answer ring list A,
on busy ring list B. Step 3: voicemail if enabled, else hang up with the right cause.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Outcome(str, enum.Enum):
    ANSWER = "ANSWER"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"


class RingMode(str, enum.Enum):
    SIMULTANEOUS = "simultaneous"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class RingList:
    numbers: tuple[str, ...]
    mode: RingMode
    seconds: int


@dataclass(frozen=True)
class ForwardingSettings:
    """A snapshot of forwarding_rules + the number's voicemail switch."""

    step1: str = "none"  # voicemail | ring_list | none
    step1_list: RingList | None = None
    device_seconds: int = 20
    no_answer_list: RingList | None = None  # step 2, when enabled
    busy_list: RingList | None = None  # step 2, when enabled
    voicemail_enabled: bool = True


@dataclass(frozen=True)
class Ring:
    """Ring these targets; `device` means the member's own registered devices."""

    targets: tuple[str, ...]
    mode: RingMode
    seconds: int
    device: bool = False


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
    """Walk it: `first()` gives the first step; `after(outcome)` the next one (a Ring), or the
    string "voicemail", or ("hangup", cause), or None when the call was answered."""

    settings: ForwardingSettings
    stage: int = 0
    history: list[Outcome] = field(default_factory=list)

    def first(self):
        s = self.settings
        if s.step1 == "voicemail":
            return self._final(Outcome.NOANSWER)
        if s.step1 == "ring_list" and s.step1_list and s.step1_list.numbers:
            self.stage = 1
            return Ring(s.step1_list.numbers, s.step1_list.mode, s.step1_list.seconds)
        self.stage = 2
        return Ring((), RingMode.SIMULTANEOUS, s.device_seconds, device=True)

    def after(self, outcome: Outcome):
        self.history.append(outcome)
        if outcome is Outcome.ANSWER:
            return None
        s = self.settings
        if self.stage == 2:  # the member's devices rang under "no special forwarding"
            self.stage = 3
            nxt = s.busy_list if outcome is Outcome.BUSY else s.no_answer_list
            if nxt and nxt.numbers:
                return Ring(nxt.numbers, nxt.mode, nxt.seconds)
        return self._final(outcome)

    def _final(self, outcome: Outcome):
        self.stage = 4
        if self.settings.voicemail_enabled:
            return "voicemail"
        # Q.850: 17 user busy, 19 no answer from user
        return ("hangup", 17 if outcome is Outcome.BUSY else 19)
