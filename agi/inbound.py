"""Route `inbound`: a call for a DID (from the PSTN) or for a virtual number (on-net).

A DID connected to a virtual number runs that number's forwarding plan; a fax-to-email DID
receives the fax; a toll-free DID rings only when "Allow Incoming 800 Calls" is set. The plan
(controller.rules.forwarding) decides; this route only rings, reads DIALSTATUS and moves on.

Before the plan, the number's screening (controller.rules.screening, issue 16) decides on the
caller ID as received and the account's local time: a blocked or (when refused) anonymous caller
is refused with an announcement; do not disturb and office hours choose the plan that runs. A
list leg with find-me confirmation runs the dialplan's confirm subroutine (Dial's U option); on a
simultaneous list each PSTN leg runs it on a Local channel of its own (CTX_FWD_LEG), so the
other legs keep ringing while one is asked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agi.channel import Channel
from agi.contacts import Devices, expand
from agi.errors import AGIHangup, CallRefused
from controller.rules import channel_vars as cv
from controller.rules.forwarding import (
    Hangup,
    Outcome,
    Plan,
    Ring,
    RingMode,
    Step,
    Voicemail,
    dial_status_outcome,
)
from controller.rules.numbers import DialClass, classify
from controller.rules.screening import Decision, Refusal, decide
from controller.services.deps import Deps
from db import calls
from db import screening as db_screening
from db.calls import Member
from db.models import Account, Did, VirtualNumber

log = logging.getLogger("agi.inbound")
DB_TIMEOUT = 2.0

# what one forwarding number rings: a dial string (a Local channel) or an on-net number's devices
Target = str | Devices


@dataclass(frozen=True)
class FaxTarget:
    """The DID is connected to Fax to Email: receive the fax for it."""

    did: Did


@dataclass(frozen=True)
class MemberTarget:
    """The call is for this member: its forwarding settings, and the target of each number on
    its forwarding lists: a dial string, Devices (an on-net number: all its registered
    devices, looked up when it rings) or None (a number that cannot be dialed is skipped)."""

    member: Member
    rules: db_screening.NumberRules
    dial_strings: Mapping[str, Target | None]


# the refusal each screening refusal announces (channel_vars.REFUSALS)
REFUSE_BY_SCREENING = {Refusal.BLOCKED: cv.REFUSE_CALLER_BLOCKED, Refusal.ANONYMOUS: cv.REFUSE_ANONYMOUS}
# CALLERID(pres) values that withhold the number (Asterisk's ast_named_caller_presentation)
_WITHHELD = ("prohib", "unavailable")


async def inbound(channel: Channel, deps: Deps) -> None:
    number = channel.extension
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            target = await _resolve(deps, number)
    except CallRefused:
        raise
    except Exception as exc:
        log.error("inbound lookup failed", extra={"number": number, "error": repr(exc)[:200]})
        raise CallRefused("unavailable", "database unreachable") from exc

    if isinstance(target, FaxTarget):
        from agi.fax import receive_fax

        await receive_fax(channel, deps, target.did)
        return

    member = target.member
    # an on-net call arrives on the caller's own channel: its CDR stays the caller's (class N);
    # a call from the PSTN gets the member's number, for Call History and Missed Calls
    pairs: list[tuple[str, object]] = []
    vnum_set, presentation = await channel.get_many([f"CDR({cv.CDR_VNUM})", "CALLERID(pres)"])
    if not vnum_set:
        # with the number it dialled (a DID or the virtual number): the CDR's dst is the
        # dialplan's extension, which the voicemail step changes
        pairs += [(f"CDR({cv.CDR_VNUM})", member.number), (f"CDR({cv.CDR_DIALED})", number)]
    # forwarded PSTN legs are decided (and charged) as this member's outbound calls
    pairs.append((f"__{cv.VAR_FWD_VNUM}", member.number))
    # the called member's language: its voicemail prompts and refusals (the caller hears them)
    language = cv.prompt_language(member.language)
    if language:
        pairs.append((cv.VAR_LANGUAGE, language))
    await channel.set_many(pairs)

    screened = _screen(channel, target, presentation)
    if screened.refusal is not None:
        # after the CDR's number: Call History and Missed Calls show the refused call
        raise CallRefused(
            REFUSE_BY_SCREENING[screened.refusal], f"caller refused by {member.number}'s screening", language
        )
    decision = await _run_plan(channel, deps, member, Plan(screened.settings), target.dial_strings)
    try:
        await channel.set_many(decision)
    except AGIHangup:
        pass


def caller_as_received(callerid_num: str, presentation: str) -> str:
    """The caller ID screening decides on: "" when the presentation withholds it."""
    if presentation.lower().startswith(_WITHHELD):
        return ""
    return callerid_num


def _screen(channel: Channel, target: MemberTarget, presentation: str) -> Decision:
    rules = target.rules
    caller = caller_as_received(channel.callerid_num, presentation)  # "" when withheld (the log)
    local_now = rules.local_now()
    # the blocklist is checked on the number even when its presentation withholds it
    withheld = caller != channel.callerid_num
    decided = decide(rules.screening, rules.settings, channel.callerid_num, local_now, withheld=withheld)
    log.info(
        "screening decision",
        extra={
            "vnum": target.member.number,
            "caller": caller[:40],
            "presentation": presentation[:40],
            "refusal": decided.refusal.value if decided.refusal else "",
            "why": decided.why.value,
            "step1": decided.settings.step1.value,
            "local_time": local_now.isoformat(timespec="seconds"),
            "uniqueid": channel.uniqueid,
        },
    )
    return decided


async def _run_plan(
    channel: Channel, deps: Deps, member: Member, plan: Plan, dial_strings: Mapping[str, Target | None]
) -> list[tuple[str, object]]:
    """Ring as the plan says; what the dialplan does next (the decision's variables)."""
    step: Step | None = plan.first()
    outcome = Outcome.NOANSWER  # step 1 "voicemail": nothing rang
    while isinstance(step, Ring):
        outcome = await _ring(channel, member.number, dial_strings, step)
        log.info(
            "forwarding step",
            extra={
                "vnum": member.number,
                "device": step.device,
                "targets": ",".join(step.targets),
                "outcome": outcome.value,
            },
        )
        step = plan.after(outcome)
    if isinstance(step, Voicemail):  # the dialplan hands the call over (dial-out,voicemail)
        # busy at the plan's last ring (the outcome Hangup's cause follows too): the busy
        # greeting; it rides as the Stasis app's next argument (the target is split on commas)
        mailbox = f"{member.number},{cv.VM_ARG_BUSY}" if outcome is Outcome.BUSY else member.number
        return [(cv.VAR_DIAL_TARGET, mailbox), (cv.VAR_DECISION, cv.DECISION_VOICEMAIL)]
    if isinstance(step, Hangup):
        await channel.exec("Hangup", step.cause)
    # None: answered and over
    return [(cv.VAR_DECISION, cv.DECISION_DONE)]


async def _resolve(deps: Deps, number: str) -> FaxTarget | MemberTarget:
    async with deps.db() as session:
        member: Member | None
        did = await calls.did(session, number)
        if did is not None:
            if did.connection == "fax_to_email":
                # a suspended account's fax DID is refused like its voice DIDs (issue 15)
                if did.account_id is not None and await _account_status(session, did.account_id) != "active":
                    raise CallRefused("not_in_service", f"account of fax DID {number} is not active")
                return FaxTarget(did)
            if did.connection != "virtual_number" or did.virtual_number_id is None:
                raise CallRefused("not_in_service", f"DID {number} is not connected")
            vn = await session.get(VirtualNumber, did.virtual_number_id)
            member = await calls.member(session, vn.number) if vn is not None else None
            if member is None:  # the foreign key rules it out; were it so, a failed lookup
                raise LookupError(f"DID {number}: no virtual number {did.virtual_number_id}")
            if classify(number).dial_class is DialClass.TOLL_FREE and not member.allow_incoming_800:
                raise CallRefused(
                    "incoming_800_blocked", f"toll-free DID {number}", cv.prompt_language(member.language)
                )
        else:
            member = await calls.member(session, number)
            if member is None:
                raise CallRefused("not_in_service", f"no DID or virtual number {number}")
        if not member.account_active:
            raise CallRefused(
                "not_in_service",
                f"account of {member.number} is not active",
                cv.prompt_language(member.language),
            )
        rules = await db_screening.load(session, member.vn_id)
        if rules is None:  # the number was just deleted
            raise CallRefused("not_in_service", f"no virtual number {member.number}")
        fwd = rules.settings
        on_net: set[str] = set()
        closed: set[str] = set()
        lists = (fwd.step1_list, fwd.no_answer_list, fwd.busy_list, rules.screening.after_hours_list)
        numbers = list(dict.fromkeys(n for lst in lists if lst for n in lst.numbers))
        if numbers:
            on_net = await calls.on_net_numbers(session, numbers)
        if on_net:
            # an on-net number of a suspended account is not rung (its phone keeps its endpoint
            # for 911 only: issue 15); it is skipped like a number that cannot be dialed
            closed = set(
                await session.scalars(
                    select(VirtualNumber.number)
                    .join(Account, Account.id == VirtualNumber.account_id)
                    .where(VirtualNumber.number.in_(on_net), Account.status != "active")
                )
            )
        dial_strings = {n: _target(n, member.number, on_net, closed) for n in numbers}
        return MemberTarget(member, rules, dial_strings)


async def _account_status(session: AsyncSession, account_id: int) -> str | None:
    status: str | None = await session.scalar(select(Account.status).where(Account.id == account_id))
    return status


def _target(number: str, member_number: str, on_net: set[str], closed: Container[str] = ()) -> Target | None:
    """The target of one forwarding number; only digits from classify() reach it. `closed`:
    the on-net numbers of accounts that are not active, which ring nothing."""
    dialed = classify(number, caller_number=member_number, is_on_net=on_net)
    if dialed.dial_class is DialClass.ON_NET:
        return Devices(dialed.digits) if dialed.digits not in closed else None
    if dialed.dial_class in (DialClass.INVALID, DialClass.EMERGENCY):
        return None
    # the Local leg runs route `outbound` in context fwd-out: permissions, credit, limit;
    # /n: never optimized away, so that leg keeps its own CDR (the one the rater charges)
    return f"Local/{dialed.digits}@{cv.CTX_FWD_OUT}/n"


_FWD_OUT_SUFFIX = f"@{cv.CTX_FWD_OUT}/n"


def _asked_on_the_leg(target: Target) -> Target:
    """A PSTN leg (_target's fwd-out Local channel) through CTX_FWD_LEG instead, which asks it
    to press 1 before it answers; an on-net number's devices as they are."""
    if isinstance(target, str) and target.endswith(_FWD_OUT_SUFFIX):
        return f"{target.removesuffix(_FWD_OUT_SUFFIX)}@{cv.CTX_FWD_LEG}/n"
    return target


async def _ring(
    channel: Channel, vnum: str, dial_strings: Mapping[str, Target | None], step: Ring
) -> Outcome:
    if step.device:
        return await _dial(channel, [Devices(vnum)], step.seconds)
    targets = [t for t in (dial_strings.get(n) for n in step.targets) if t]
    if not targets:
        return Outcome.NOANSWER
    # find-me confirmation: a list leg that answers must press 1 (the dialplan's CTX_FWD_CONFIRM)
    options = cv.FWD_CONFIRM_OPTION if step.confirm else ""
    if step.mode is RingMode.SIMULTANEOUS:
        if not step.confirm:
            return await _dial(channel, targets, step.seconds)
        # each PSTN leg is asked on its own Local channel (CTX_FWD_LEG), which answers this Dial
        # only after its 1: the other legs ring on meanwhile. Each rings step.seconds there;
        # this Dial waits longer, for a late leg's prompt and key, unless an on-net number's
        # devices ring in it too (they would ring that much longer). The U option stays for
        # those devices (asked here as before) and lets the Local legs through
        await channel.set_variable(f"_{cv.VAR_FWD_RING}", step.seconds)
        legs = [_asked_on_the_leg(t) for t in targets]
        grace = cv.FWD_CONFIRM_GRACE if all(isinstance(t, str) for t in targets) else 0
        return await _dial(channel, legs, step.seconds + grace, options)
    outcome = Outcome.NOANSWER
    for t in targets:
        outcome = await _dial(channel, [t], step.seconds, options)
        if outcome is Outcome.ANSWER:
            break
    return outcome


async def _dial(channel: Channel, targets: list[Target], seconds: int, options: str = "") -> Outcome:
    # every device of an on-net number rings at once: the first to answer takes the call and
    # Dial cancels the others
    args: list[object] = ["&".join(await expand(channel, targets)), seconds]
    if options:
        args.append(options)
    await channel.exec("Dial", *args)
    status = await channel.get_variable("DIALSTATUS") or ""
    return dial_status_outcome(status)
