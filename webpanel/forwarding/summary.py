"""The forwarding page's plain-language summary and the simulator's answer in words.

Both come from the code a call runs: db.screening.build (the row -> rules mapping the inbound
route uses), controller.rules.screening.decide and paths (the same Plan walked for "nobody
answers" and "busy"). Nothing here decides anything; it only says it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Row, String, case, func, literal, null, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import Session

from controller.rules.forwarding import Hangup, Outcome, RingMode, Step, Voicemail
from controller.rules.screening import DAY_BITS, Refusal, Screening, Why, decide, normalize_caller, paths
from db import screening as db_screening
from db.models import Buddy, CallBlock, ForwardingRule, VirtualNumber
from webpanel.forwarding import services
from webpanel.forwarding.simulate import Simulation
from webpanel.i18n import _

ORDINARY_CALLER = "2025550100"  # a caller ID that is neither blocked nor anonymous


def day_names() -> list[str]:
    return [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def full_day_names() -> list[str]:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


def blocks_and_buddies(
    session: Session, vn_id: int, user_id: int
) -> tuple[list[str], list[tuple[str, str | None, str | None]]]:
    """The number's blocklist (rules_for) and the member's buddies (names_for) in one query
    (issue 16: a page's queries are most of its CPU)."""
    rows: Sequence[Row[Any]] = session.execute(
        union_all(
            select(literal(0), CallBlock.number, null(), null()).where(CallBlock.virtual_number_id == vn_id),
            select(literal(1), Buddy.name, Buddy.virtual_number, Buddy.pstn_phone).where(
                Buddy.user_id == user_id
            ),
        )
    ).all()
    blocks = [row[1] for row in rows if row[0] == 0]
    buddies = [(row[1], row[2], row[3]) for row in rows if row[0] == 1]
    return blocks, buddies


def lookup_columns(
    own: ColumnElement[bool], user_id: int | BindParameter[Any]
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """blocks_and_buddies as two columns of a query of virtual numbers, read on the rows where
    `own` holds (NULL elsewhere, and where there are none): the page's first query brings them."""
    blocks = select(func.array_agg(CallBlock.number)).where(CallBlock.virtual_number_id == VirtualNumber.id)
    buddies = select(
        func.array_agg(
            array([Buddy.name, Buddy.virtual_number, Buddy.pstn_phone]), type_=ARRAY(String, dimensions=2)
        )
    ).where(Buddy.user_id == user_id)
    return case((own, blocks.scalar_subquery())), case((own, buddies.scalar_subquery()))


def names_for(
    session: Session,
    user_id: int,
    cell: str,
    own: str = "",
    buddies: Iterable[tuple[str, str | None, str | None]] | None = None,
) -> dict[str, str]:
    """How the summary names a number: the member's buddy's name, "your cell" for the account's
    PSTN phone, "your phone" for the number itself (in a list it rings its phones). Keys are
    normalize_caller digits. `buddies`: their (name, virtual number, PSTN phone) when read already."""
    names: dict[str, str] = {}
    if buddies is None:
        buddies = session.execute(
            select(Buddy.name, Buddy.virtual_number, Buddy.pstn_phone).where(Buddy.user_id == user_id)
        ).tuples()
    for name, vnum, pstn in buddies:
        for number in (vnum, pstn):
            key = normalize_caller(number or "")
            if key and key not in names:
                names[key] = name
    if cell:
        names[normalize_caller(cell)] = _("your cell")
    if own:
        names[normalize_caller(own)] = _("your phone")
    return names


def _who(numbers: Iterable[str], names: Mapping[str, str]) -> str:
    shown = [names.get(normalize_caller(n), n) for n in numbers]
    if len(shown) == 1:
        return shown[0]
    return _("%(first)s and %(last)s", first=", ".join(shown[:-1]), last=shown[-1])


def step_words(step: Step, names: Mapping[str, str]) -> str:
    if isinstance(step, Voicemail):
        return _("voicemail")
    if isinstance(step, Hangup):
        return _("the call ends")
    if step.device:
        return _("ring your phone %(seconds)s s", seconds=step.seconds)
    who = _who(step.targets, names)
    if len(step.targets) == 1:
        words = _("ring %(who)s for %(seconds)s s", who=who, seconds=step.seconds)
    elif step.mode is RingMode.SIMULTANEOUS:
        words = _("ring %(who)s together for %(seconds)s s", who=who, seconds=step.seconds)
    else:
        words = _("ring %(who)s one after another, %(seconds)s s each", who=who, seconds=step.seconds)
    if step.confirm:
        words = _("%(ring)s (they press 1 to take the call)", ring=words)
    return words


def walk_words(steps: list[Step], names: Mapping[str, str]) -> str:
    text = _(", then ").join(step_words(s, names) for s in steps)
    return (text[:1].upper() + text[1:] + ".") if text else ""


def plan_lines(walks: Mapping[Outcome, list[Step]], names: Mapping[str, str]) -> list[str]:
    """One sentence, or two when busy differs from no answer."""
    no_answer = walk_words(walks.get(Outcome.NOANSWER, []), names)
    busy = walk_words(walks.get(Outcome.BUSY, []), names)
    if no_answer == busy:
        return [no_answer]
    return [_("If nobody answers: %(walk)s", walk=no_answer), _("If you are busy: %(walk)s", walk=busy)]


def hours_words(days: int, opens: dt.time, closes: dt.time) -> str:
    shown = [name for d, name in enumerate(day_names()) if days & DAY_BITS[d]]
    return _(
        "%(days)s, %(opens)s to %(closes)s",
        days=", ".join(shown),
        opens=opens.strftime("%H:%M"),
        closes=closes.strftime("%H:%M"),
    )


def _sample_times(screening: Screening) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A local time inside office hours and one outside them (a week of half hours)."""
    hours = screening.hours
    if hours is None:
        return None, None
    inside = outside = None
    monday = dt.datetime(2024, 1, 1)  # a Monday
    for slot in range(7 * 48):
        t = monday + dt.timedelta(minutes=30 * slot)
        for moment in (t, t.replace(hour=hours.opens.hour, minute=hours.opens.minute)):
            if hours.is_open(moment):
                inside = inside or moment
            else:
                outside = outside or moment
        if inside and outside:
            break
    return inside, outside


@dataclasses.dataclass(frozen=True)
class Summary:
    screening: list[str]  # refusals, do not disturb
    sections: list[tuple[str, list[str]]]  # (heading or "", sentences)


def summarize(rules: db_screening.NumberRules, names: Mapping[str, str]) -> Summary:
    s = rules.screening
    top: list[str] = []
    if s.blocked:
        top.append(_("Blocked numbers (%(count)s) are refused.", count=len(s.blocked)))
    if s.reject_anonymous:
        top.append(_("Callers without a caller ID are refused."))
    plain = dataclasses.replace(s, dnd=False, reject_anonymous=False, blocked=frozenset())
    if s.dnd:
        dnd = decide(s, rules.settings, ORDINARY_CALLER, dt.datetime(2024, 1, 1, 12))
        top.append(
            _(
                "Do not disturb is on: nothing rings. %(walk)s",
                walk=walk_words(paths(dnd.settings)[Outcome.NOANSWER], names),
            )
        )
    sections: list[tuple[str, list[str]]] = []
    inside, outside = _sample_times(s)
    if s.hours is None or inside is None or outside is None:
        sections.append(("", plan_lines(paths(rules.settings), names)))
    else:
        during = decide(plain, rules.settings, ORDINARY_CALLER, inside)
        after = decide(plain, rules.settings, ORDINARY_CALLER, outside)
        when = hours_words(s.hours.days, s.hours.opens, s.hours.closes)
        sections.append(
            (
                _("During office hours (%(when)s, %(zone)s):", when=when, zone=rules.time_zone),
                plan_lines(paths(during.settings), names),
            )
        )
        sections.append((_("After hours:"), plan_lines(paths(after.settings), names)))
    return Summary(top, sections)


def rules_for(
    session: Session,
    vn: VirtualNumber,
    time_zone: str,
    values: Mapping[str, object] | None = None,
    blocks: list[str] | None = None,
) -> db_screening.NumberRules:
    """The number's rules as stored, or as they would be with `values` (the form's) saved.
    `blocks`: the blocklist's numbers when read already."""
    stored = services.rule_for(session, vn)
    rule = stored
    if values:
        rule = ForwardingRule(
            virtual_number_id=vn.id, **{name: getattr(stored, name) for name in services.AUDITED}
        )
        services.apply_to(rule, dict(values))
    if blocks is None:
        blocks = list(session.scalars(select(CallBlock.number).where(CallBlock.virtual_number_id == vn.id)))
    return db_screening.build(rule, blocks, vn.voicemail_enabled, time_zone)


# --- the simulator ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    headline: str
    when: str
    lines: list[str]
    refused: bool


def answer(sim: Simulation, caller: str, names: Mapping[str, str]) -> Answer:
    d = sim.decision
    local = sim.local_now
    when = _(
        "%(day)s %(time)s in %(zone)s",
        day=full_day_names()[local.weekday()],
        time=local.strftime("%H:%M"),
        zone=sim.time_zone,
    )
    if d.refusal is Refusal.BLOCKED:
        return Answer(
            _("Refused: %(caller)s is on your blocklist. Nothing rings.", caller=caller), when, [], True
        )
    if d.refusal is Refusal.ANONYMOUS:
        return Answer(
            _("Refused: the call has no caller ID and you reject anonymous callers. Nothing rings."),
            when,
            [],
            True,
        )
    headline = {
        Why.DND: _("Do not disturb is on: nothing rings."),
        Why.OFFICE_HOURS: _("Within your office hours."),
        Why.AFTER_HOURS: _("Outside your office hours: the after-hours plan."),
        Why.ALWAYS: _("No office hours are set: the same plan at any hour."),
    }.get(d.why, "")
    return Answer(headline, when, plan_lines(sim.walks, names), False)
