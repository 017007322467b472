"""Route `outbound`: a member's device (context members) or a forwarded leg (context fwd-out)
dialed something. Classify it, check permissions, find the money, set the call's maximum
length, and hand the dialplan a Dial it can execute. 911 always goes through. The platform's
own service numbers (the service_numbers table) go inside, to their dialplan target: free,
never to the trunk."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NoReturn

import asyncpg

from agi.channel import Channel
from agi.errors import AGIHangup, CallRefused
from agi.ratedeck import RateDeckCache
from agi.routing_table import RoutingTableCache
from controller.rules import channel_vars as cv
from controller.rules import limits as limit_rules
from controller.rules import routing
from controller.rules.decisions import OutboundPlan, Verdict, may_call
from controller.rules.numbers import (
    EMERGENCY_NUMBERS,
    DialClass,
    Dialed,
    area_code,
    classify,
    normalize,
    on_net_candidates,
)
from controller.rules.rating import Rate
from controller.services import mailer
from controller.services.deps import Deps
from db import billing, calls, hotpath
from db import limits as db_limits
from db.billing import Authorization
from db.calls import DecisionContext, Member

log = logging.getLogger("agi.outbound")

DB_TIMEOUT = 2.0  # a decision that needs the database fails closed after this
# what a toll-free call costs the member: the sell price routing compares carriers' prices with
FREE_CALL = Rate("", Decimal("0"), Decimal("0"), 0, 1)


async def outbound(channel: Channel, deps: Deps) -> None:
    vnum, linkedid = await _caller(channel)
    raw = channel.extension

    number = normalize(raw)
    if number is not None and number in EMERGENCY_NUMBERS:
        await _emergency(channel, deps, vnum, number)
        return

    try:
        await decide_and_apply(channel, deps, vnum, raw, linkedid=linkedid)
    except CallRefused:
        # a refused call's CDR still names the member and what was dialled, when it is a number
        # (an allowed call's go with the decision): Call History shows it as the member's call,
        # refused. One SET each: nothing is EXECuted for a refused call
        await channel.set_variable(f"CDR({cv.CDR_VNUM})", vnum)
        if number is not None:
            await channel.set_variable(f"CDR({cv.CDR_DIALED})", number)
        raise


_ARG = re.compile(r"[0-9A-Za-z._-]{1,64}")


async def _caller(channel: Channel) -> tuple[str, str]:
    """Who is calling, and the call tree (linkedid). The dialplan passes both as the AGI's
    arguments (the endpoint or VOIP_FWD_VNUM, then CHANNEL(linkedid)); a dialplan of an older
    config, or a value that is not a plain name, costs one GET round trip instead."""
    args = channel.args()
    if len(args) == 2 and all(_ARG.fullmatch(a) for a in args):
        return args[0], args[1]
    who = cv.VAR_FWD_VNUM if channel.context == cv.CTX_FWD_OUT else "CHANNEL(endpoint)"
    vnum, linkedid = await channel.get_many([who, "CHANNEL(linkedid)"])
    return vnum, linkedid


async def decide_and_apply(
    channel: Channel, deps: Deps, vnum: str, raw: str, answered: bool = False, linkedid: str | None = None
) -> None:
    """Decide a call of member `vnum` to `raw` and hand the dialplan what to do (shared with
    the calling card). Raises CallRefused with the reason to announce.

    `answered`: the channel was answered before dialing (calling card). Its own CDR then
    counts the prompts, so the billed leg is a Local channel in context billed-out, which is
    answered only when the destination answers; the billing CDR fields go on that leg."""
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            if not linkedid:
                linkedid = await channel.get_variable("CHANNEL(linkedid)") or channel.uniqueid
            # sliced holds (issue 13): the call holds its first slice, the controller's hold
            # extender adds more while it lasts (only while it runs: the sweeper's rounds)
            settings = deps.settings
            if settings.hold_slice_s > 0 and settings.hold_sweep_s > 0:
                hotpath.HOLD_SLICE.set(settings.hold_slice_s)
            plan = await _decide(deps, vnum, raw, channel.uniqueid, linkedid)
    except CallRefused:
        raise
    except Exception as exc:  # database unreachable or slow: no billable call goes out
        log.error("outbound decision failed closed", extra={"vnum": vnum, "error": repr(exc)[:200]})
        raise CallRefused("unavailable", "database unreachable") from exc

    try:
        await _apply(channel, deps, vnum, plan, answered)
    except AGIHangup:
        # the caller hung up while the decision was being made: its hold goes back now (the
        # hangup handler and the hold sweeper would free it too, a moment later)
        if plan.auth_id is not None:
            await _release_hold(deps, channel.uniqueid, plan.auth_id)
        raise


async def _release_hold(
    deps: Deps, uniqueid: str, auth_id: int, why: str = "caller gone during the decision"
) -> None:
    try:
        async with asyncio.timeout(DB_TIMEOUT), deps.db() as session:
            await session.run_sync(billing.release_owned, uniqueid, None, auth_id)
            await session.commit()
        log.info(f"hold released: {why}", extra={"auth_id": auth_id})
    except Exception as exc:  # the sweeper frees it
        log.warning("hold release failed", extra={"auth_id": auth_id, "error": repr(exc)[:200]})


async def _apply(channel: Channel, deps: Deps, vnum: str, plan: OutboundPlan, answered: bool) -> None:
    dialed = plan.dialed
    if answered and dialed.dial_class not in (DialClass.ON_NET, DialClass.SERVICE):
        await _dial_billed_leg(channel, deps, vnum, plan)
        return
    # everything the dialplan needs in one round trip; the decision goes last. The member's
    # language first: whatever is played to this caller from now on is in it
    pairs: list[tuple[str, object]] = [(cv.VAR_LANGUAGE, plan.language)] if plan.language else []
    pairs += [
        (f"CDR({cv.CDR_VNUM})", vnum),
        (f"CDR({cv.CDR_CALL_CLASS})", dialed.dial_class.value),
        (f"CDR({cv.CDR_DIALED})", dialed.digits),
    ]
    if dialed.dial_class is DialClass.ON_NET:
        pairs += [(cv.VAR_DIAL_TARGET, dialed.digits), (cv.VAR_DECISION, cv.DECISION_ONNET)]
        await channel.set_many(pairs)
        return
    if dialed.dial_class is DialClass.SERVICE:
        target = (plan.service_target or "").replace(",", cv.SERVICE_TARGET_SEP)
        pairs += [(cv.VAR_DIAL_TARGET, target), (cv.VAR_DECISION, cv.DECISION_SERVICE)]
        await channel.set_many(pairs)
        log.info(
            "service number", extra={"vnum": vnum, "dialed": dialed.digits, "target": plan.service_target}
        )
        return
    # least-cost routing (issue 14): the carriers to try, or None for the single trunk
    route = await _route(channel, deps, plan)
    if plan.caller_id:
        pairs.append(("CALLERID(num)", plan.caller_id))
    if plan.max_seconds is not None:
        pairs.append((cv.VAR_MAX_SECONDS, plan.max_seconds))
    if plan.auth_id is not None:
        pairs.append((f"CDR({cv.CDR_AUTH_ID})", plan.auth_id))
    if route is not None:
        pairs += _route_pairs(route, dialed.digits, plan.caller_id or vnum)
        target, decision = "", cv.DECISION_ROUTE
    else:
        target, decision = deps.settings.pstn_dial.format(number=dialed.digits), cv.DECISION_DIAL
    pairs += [
        (cv.VAR_DIAL_TARGET, target),
        (cv.VAR_DIAL_TIMEOUT, 60),
        (cv.VAR_DIAL_OPTIONS, plan.dial_options),
        (cv.VAR_DECISION, decision),
    ]
    await channel.set_many(pairs)
    log.info(
        "outbound call",
        extra={
            "vnum": vnum,
            "class": dialed.dial_class.value,
            "dialed": dialed.digits,
            "max_seconds": plan.max_seconds,
            "carriers": [c.name for c in route.candidates] if route is not None else None,
        },
    )


async def _route(channel: Channel, deps: Deps, plan: OutboundPlan) -> routing.RouteDecision | None:
    """The carriers a billable or toll-free call tries, in order (agi/routing_table.py, in
    memory like the rate deck), or None when no carrier is configured: the single trunk of
    VOIP_PSTN_DIAL then carries it, as before carriers existed (the default carrier). A number
    no enabled carrier reaches goes to that default trunk too (VOIP_ROUTE_FALLBACK, on by
    default; off: refused). A number carriers reach only above the member's price, without a
    loss prefix allowing it, is refused, and so is a call whose route cannot be had (the
    table's first load failing: fail closed).
    A refusal here comes after the hold was taken and before any Dial, and the release
    handler skips a refused decision: the hold is given back here."""
    digits = plan.dialed.digits
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            decision = await routing_cache(deps).route(digits, plan.sell_rate)
    except Exception as exc:
        log.error("routing failed closed", extra={"dialed": digits, "error": repr(exc)[:200]})
        await _refuse_held(channel, deps, plan, "unavailable", f"no route table for {digits}")
    if decision is None:
        return None
    if decision.refused_reason == routing.REFUSED_NO_ROUTE and deps.settings.route_fallback:
        log.info("no carrier reaches it: the default trunk", extra={"dialed": digits})
        return None
    if plan.dialed.dial_class is DialClass.TOLL_FREE and decision.refused_reason is not None:
        # toll-free calls went out free through the default trunk before carriers: a carrier
        # that would charge for one is no reason to refuse it now
        if deps.settings.route_fallback:
            log.info("no free carrier for a toll-free call: the default trunk", extra={"dialed": digits})
            return None
    if decision.refused_reason is not None or not decision.candidates:
        log.warning("no carrier route", extra={"dialed": digits, "reason": decision.refused_reason})
        await _refuse_held(channel, deps, plan, cv.REFUSE_NO_ROUTE, f"{digits}: {decision.refused_reason}")
    return decision


def routing_cache(deps: Deps) -> RoutingTableCache:
    """The in-process routing table (agi/routing_table.py), made on the first call."""
    cache = deps.extra.get("routing_table")
    if cache is None:
        attempts = deps.settings.route_max_attempts
        cache = deps.extra["routing_table"] = RoutingTableCache(deps.pg, max_attempts=attempts)
    return cache


async def _refuse_held(
    channel: Channel, deps: Deps, plan: OutboundPlan, reason: str, detail: str
) -> NoReturn:
    if plan.auth_id is not None:
        await _release_hold(deps, channel.uniqueid, plan.auth_id, "call refused after its hold")
    raise CallRefused(reason, detail, plan.language)


def _route_pairs(
    route: routing.RouteDecision, digits: str, caller_id: str, prefix: str = ""
) -> list[tuple[str, object]]:
    """The candidates as the dialplan's carrier-out context reads them (channel_vars: one
    variable per field, suffixed with the candidate's place, 1 first). `prefix` "__" makes
    them inherited (the calling card's billed leg)."""
    pairs: list[tuple[str, object]] = [(prefix + cv.VAR_ROUTE_COUNT, len(route.candidates))]
    for i, c in enumerate(route.candidates, 1):
        pairs += [
            (f"{prefix}{cv.VAR_ROUTE_NAME}{i}", c.name),
            (f"{prefix}{cv.VAR_ROUTE_ENDPOINT}{i}", c.endpoint),
            (f"{prefix}{cv.VAR_ROUTE_DIAL}{i}", routing.dial_string(c, digits)),
            (f"{prefix}{cv.VAR_ROUTE_MAX}{i}", c.max_channels),
            (f"{prefix}{cv.VAR_ROUTE_CALLER_ID}{i}", routing.caller_id_for(c, caller_id)),
            (f"{prefix}{cv.VAR_ROUTE_SETUP}{i}", c.setup_timeout),
        ]
    return pairs


async def _dial_billed_leg(channel: Channel, deps: Deps, vnum: str, plan: OutboundPlan) -> None:
    dialed = plan.dialed
    route = await _route(channel, deps, plan)
    inherit: dict[str, object] = {
        cv.VAR_BILL_VNUM: vnum,
        cv.VAR_BILL_CLASS: dialed.dial_class.value,
        cv.VAR_BILL_DIALED: dialed.digits,
        cv.VAR_BILL_AUTH: plan.auth_id or "",
        cv.VAR_BILL_TARGET: deps.settings.pstn_dial.format(number=dialed.digits) if route is None else "",
        cv.VAR_BILL_OPTIONS: plan.dial_options,
    }
    for name, value in inherit.items():
        await channel.set_variable(f"__{name}", value)
    if route is not None:
        # the billed leg tries the carriers (context billed-out goes to carrier-out)
        await channel.set_many(_route_pairs(route, dialed.digits, plan.caller_id or vnum, prefix="__"))
    if plan.caller_id:
        await channel.set_variable("CALLERID(num)", plan.caller_id)
    await _dial(channel, f"Local/{dialed.digits}@{cv.CTX_BILLED_OUT}/n", 70, "")
    log.info(
        "outbound call (billed leg)",
        extra={
            "vnum": vnum,
            "class": dialed.dial_class.value,
            "dialed": dialed.digits,
            "max_seconds": plan.max_seconds,
        },
    )


async def _decide(deps: Deps, vnum: str, raw: str, uniqueid: str, linkedid: str) -> OutboundPlan:
    candidates = on_net_candidates(raw)
    for attempt in (1, 2):
        async with deps.pg.connection() as conn:
            try:
                ctx = await hotpath.decision_context(
                    conn,
                    vnum,
                    candidates,
                    area_code(vnum),
                    linkedid,
                    deps.settings.velocity_minutes,
                    deps.settings.max_concurrent_default,
                    _maybe_international(raw, vnum),
                )
            except hotpath.DEAD_CONNECTION:
                if attempt == 2:
                    raise
                ctx = None  # a restarted database left this pooled connection dead
            if ctx is not None:
                return await _decide_for(deps, conn, ctx, vnum, raw, uniqueid, linkedid)
        await deps.pg.forget_connections()  # the other idle ones are dead too: try once more
    raise AssertionError("unreachable")


async def _decide_for(
    deps: Deps,
    conn: asyncpg.Connection,
    ctx: DecisionContext,
    vnum: str,
    raw: str,
    uniqueid: str,
    linkedid: str,
) -> OutboundPlan:
    """The plan of an allowed call, or CallRefused; a refusal carries the member's prompt
    language (Account.language), so it is announced in it."""
    member = ctx.member
    language = cv.prompt_language(member.language) if member is not None else None
    try:
        if member is None:
            raise CallRefused("forbidden", f"no member {vnum!r}")
        if not member.account_active:
            # suspended (closed accounts publish no endpoint): 911 never comes here (_emergency)
            raise CallRefused(cv.REFUSE_SUSPENDED, f"account of {vnum!r} is not active")
        dialed = classify(
            raw,
            caller_number=vnum,
            is_on_net=ctx.on_net,
            regional_area_codes=ctx.regional,
            is_service=ctx.services,
        )
        verdict = may_call(member.permissions, dialed)
        if not verdict.allowed:
            raise CallRefused(verdict.reason, verdict.message)
        if dialed.dial_class is DialClass.SERVICE:
            return OutboundPlan(dialed, language=language, service_target=ctx.services[dialed.digits])
        if dialed.dial_class is DialClass.ON_NET:
            return OutboundPlan(dialed, language=language)
        caller_id = ctx.did_number or vnum
        if dialed.dial_class is DialClass.TOLL_FREE:
            # free to the member: least-cost routing keeps only carriers that carry it free
            # (or a loss prefix allows), else the default trunk takes it, as before carriers
            return OutboundPlan(dialed, caller_id, language=language, sell_rate=FREE_CALL)
        auth = await authorize(
            deps, conn, member, dialed, uniqueid, linkedid, ctx.money_state, limit_row=ctx.limit_row
        )
        # the rate the hold was priced on (the in-memory deck, no round trip): least-cost
        # routing keeps the carriers that buy at or below it
        sell_rate = await _rate(deps, dialed.digits)
        return OutboundPlan(dialed, caller_id, auth.max_seconds, auth.auth_id, language, sell_rate=sell_rate)
    except CallRefused as refused:
        refused.language = refused.language or language
        raise


async def authorize(
    deps: Deps,
    conn: asyncpg.Connection,
    member: Member,
    dialed: Dialed,
    uniqueid: str,
    linkedid: str,
    money_state: str | None = None,
    limit_row: Sequence[Any] = (),
) -> Authorization:
    """Hold the plan seconds and credit this call may use (max_seconds > 0), or CallRefused.
    `limit_row`: the decision context's spending-limit columns (db.limits.LIMIT_COLUMNS): the
    account's and the number's limits are checked (controller.rules.limits) and what the caps
    leave today bounds the credit the hold may take (the money rule's credit_cap)."""
    limits = facts = None
    call_class = dialed.dial_class.value
    if limit_row and dialed.billable:
        limits, facts = await db_limits.decision_limits(
            conn,
            member.account_id,
            member.vn_id,
            limit_row,
            deps.settings,
            call_class,
            linkedid,
            await _premium_prefixes(deps, conn),
        )
        screened = limit_rules.screen(limits, facts, call_class, dialed.digits, dialed.country)
        if not screened.verdict.allowed:
            await _limit_refused(deps, conn, member, dialed, screened.verdict, screened.trip)
    rate = await _rate(deps, dialed.digits)
    if rate is None:
        raise CallRefused("not_in_service", f"no rate for {dialed.digits}")
    cap: Decimal | None = None
    cap_reason = ""
    if limits is not None and facts is not None:
        verdict = limit_rules.rate_allowed(limits, rate.rate_per_minute)
        if not verdict.allowed:
            await _limit_refused(deps, conn, member, dialed, verdict)
        cap, cap_reason = limit_rules.credit_cap(limits, facts, call_class)
    result = await hotpath.authorize(
        conn,
        account_id=member.account_id,
        virtual_number_id=member.vn_id,
        call_class=call_class,
        dialed=dialed.digits,
        uniqueid=uniqueid,
        call_group=linkedid,
        rate=rate,
        money_state=money_state,
        credit_cap=cap,
    )
    if result.max_seconds <= 0:
        reason = result.reason or "no_credit"
        if cap is not None and result.capped:
            # the money alone would have paid for the call: a cap refused it (decided on the
            # same money state as the refusal, the locked one when the optimistic try lost)
            verdict = Verdict(False, cap_reason, f"{cap:.2f} left today")
            await _limit_refused(deps, conn, member, dialed, verdict)
        raise CallRefused(reason, f"{member.number} -> {dialed.digits}")
    return result


async def _limit_refused(
    deps: Deps,
    conn: asyncpg.Connection,
    member: Member,
    dialed: Dialed,
    verdict: Verdict,
    trip: str = "",
) -> NoReturn:
    """Record a refusal of the limits (fraud_events; a trip of the velocity rule stops the
    account and emails the member and the operator, once), then refuse the call."""
    detail = f"{dialed.digits}: {verdict.message}"
    try:
        if trip:
            tripped = await db_limits.trip(conn, member.account_id, member.vn_id, f"{trip} ({dialed.digits})")
            if tripped is not None:
                _send_alert(deps, member, dialed, trip, tripped)
        else:
            await db_limits.record(conn, member.account_id, member.vn_id, verdict.reason, detail)
    except Exception as exc:  # the refusal stands whether or not it could be written down
        log.error("fraud event not recorded", extra={"vnum": member.number, "error": repr(exc)[:200]})
    log.warning("limit refused", extra={"vnum": member.number, "reason": verdict.reason, "detail": detail})
    raise CallRefused(verdict.reason, detail)


def _send_alert(deps: Deps, member: Member, dialed: Dialed, why: str, tripped: db_limits.Trip) -> None:
    """Email the member and the operator that the velocity rule stopped the account's billable
    calls; in the background (the refusal does not wait on SMTP)."""
    recipients = [*tripped.emails, deps.settings.fraud_email]
    subject = f"Billable calls stopped on account {member.account_id}: velocity limit"
    body = (
        f"The velocity rule stopped billable calls of account {member.account_id} "
        f"(virtual number {tripped.number or member.number}): {why}.\n"
        f"The attempt that tripped it: {dialed.digits}.\n\n"
        "Emergency calls (911) still go through. The operator lifts the stop on the admin's "
        "Fraud page after checking the account.\n"
    )

    async def send() -> None:
        for to in dict.fromkeys(r for r in recipients if r):
            try:
                await mailer.send_mail(deps.settings, to, subject, body)
            except mailer.MailError as exc:
                log.error("velocity alert not sent", extra={"to": to, "error": str(exc)[:200]})

    tasks: set[asyncio.Task[None]] = deps.extra.setdefault("limit_alerts", set())
    task = asyncio.get_running_loop().create_task(send())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _maybe_international(raw: str, vnum: str) -> bool:
    """Whether the dialed number can be an international call (issue 13, spending limits: only
    then does the decision's statement count the velocity window's international attempts of
    an account without limits of its own). What classify() says without the on-net and
    service numbers, which are never international; cached in its number facts."""
    return classify(raw, caller_number=vnum).dial_class is DialClass.INTERNATIONAL


async def _premium_prefixes(deps: Deps, conn: asyncpg.Connection) -> tuple[str, ...]:
    """The premium-rate prefixes in the controller's memory (db.limits.PremiumPrefixes), made on
    the first call."""
    cache = deps.extra.get("premium_prefixes")
    if cache is None:
        cache = deps.extra["premium_prefixes"] = db_limits.PremiumPrefixes(deps.pg)
    prefixes: tuple[str, ...] = await cache.get(conn)
    return prefixes


async def _rate(deps: Deps, digits: str) -> Rate | None:
    """The in-process rate deck (agi/ratedeck.py), made on the first call."""
    cache = deps.extra.get("rate_deck")
    if cache is None:
        cache = deps.extra["rate_deck"] = RateDeckCache(deps.pg)
    return await cache.lookup(digits)


async def _emergency(channel: Channel, deps: Deps, vnum: str, number: str) -> None:
    """911: no permission, no balance, and no database needed. The DID's caller ID and the 911
    address on file are used when the database answers in time; the call goes out regardless."""
    caller_id, e911 = vnum, None
    try:
        async with asyncio.timeout(1.0):
            async with deps.db() as session:
                m = await calls.member(session, vnum)
                if m is not None:
                    identity = await calls.caller_identity(session, m.vn_id)
                    caller_id = identity.did_number or vnum
                    e911 = identity.e911
    except Exception as exc:
        log.error("911 without database: dialing anyway", extra={"vnum": vnum, "error": repr(exc)[:200]})
    address = _format_address(e911) if e911 else "NO 911 ADDRESS ON FILE"
    log.warning("911 call", extra={"vnum": vnum, "caller_id": caller_id, "e911_address": address})
    await channel.set_variable(f"CDR({cv.CDR_CALL_CLASS})", DialClass.EMERGENCY.value)
    await channel.set_variable(f"CDR({cv.CDR_DIALED})", number)
    await channel.set_variable("CDR(userfield)", f"911 {caller_id}: {address}"[:250])
    await channel.set_variable("CALLERID(num)", caller_id)
    await _dial(channel, deps.settings.pstn_dial.format(number=number), 120, "")


def _format_address(a: dict[str, str]) -> str:
    street = " ".join(
        str(a[k])
        for k in (
            "house_number",
            "number_suffix",
            "street_dir_prefix",
            "street_name",
            "street_type",
            "street_dir_suffix",
        )
        if a.get(k)
    )
    return ", ".join(
        p
        for p in (
            a.get("name"),
            street,
            a.get("location"),
            a.get("city"),
            a.get("state"),
            a.get("postal_code"),
            a.get("country"),
        )
        if p
    )


async def _dial(channel: Channel, target: str, timeout: int, options: str) -> None:
    await channel.set_variable(cv.VAR_DIAL_TARGET, target)
    await channel.set_variable(cv.VAR_DIAL_TIMEOUT, timeout)
    await channel.set_variable(cv.VAR_DIAL_OPTIONS, options)
    await channel.set_variable(cv.VAR_DECISION, cv.DECISION_DIAL)
