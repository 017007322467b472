""" "What happens if I'm called now": the screening decision and the steps a call walks, from
the same mapping (db.screening) and rules (controller.rules.screening) the inbound route runs.
FWD-PANEL's page renders a Simulation."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy.orm import Session

from controller.rules.forwarding import Outcome, Step
from controller.rules.screening import Decision, decide, paths
from db import screening as db_screening


@dataclass(frozen=True)
class Simulation:
    decision: Decision  # controller.rules.screening.Decision
    walks: dict[Outcome, list[Step]]  # screening.paths(decision.settings); {} when refused
    local_now: datetime.datetime  # the account's local time used (aware)
    time_zone: str


def simulate(session: Session, vn_id: int, caller: str, at: datetime.datetime | None = None) -> Simulation:
    """What a call from `caller` to virtual number `vn_id` at `at` (aware; default now) gets.
    Raises LookupError when the number does not exist."""
    rules = db_screening.load_sync(session, vn_id)
    if rules is None:
        raise LookupError(f"no virtual number {vn_id}")
    local_now = rules.local_now(at)
    decision = decide(rules.screening, rules.settings, caller, local_now)
    walks = {} if decision.refusal is not None else paths(decision.settings)
    return Simulation(decision, walks, local_now, rules.time_zone)
