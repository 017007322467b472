"""Route `callingcard`: the access number. PIN (at most 3 tries per call; repeated failures
lock the caller ID for a while: a locked caller hears so, refusal `pin_locked`), then the
remaining balance and plan minutes (said as controller.rules.prompts says them in the member's
language), then the destination, then the same permission and credit rules as an outbound call,
dialed with its time limit. A caller who says nothing is hung up on after the prompts time out.

Language: the PIN prompt is in the channel's default language (the caller is nobody yet, and
a caller ID proves nothing); from the right PIN on, every prompt and refusal is in the
member's Account.language (CHANNEL(language))."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import select

from agi.channel import Channel
from agi.errors import CallRefused
from agi.outbound import decide_and_apply
from controller.rules import channel_vars as cv
from controller.rules.numbers import EMERGENCY_NUMBERS, DialClass, normalize
from controller.rules.prompts import Number, balance
from controller.rules.secrets import pin_hmac
from controller.services.deps import Deps
from db import lockouts
from db.models import Account, VirtualNumber

log = logging.getLogger("agi.callingcard")

TRIES = 3
PIN_TIMEOUT_MS = 8000
NUMBER_TIMEOUT_MS = 10000
KIND_CALLER = "cc_caller"
LOCKED = "pin_locked"  # the refusal (channel_vars.REFUSALS) a locked caller ID hears


async def callingcard(channel: Channel, deps: Deps) -> None:
    s = deps.settings
    await channel.answer()
    caller_key = lockouts.key_for(channel.callerid_num or "anonymous")
    async with asyncio.timeout(2):
        async with deps.db() as session:
            locked = await lockouts.is_locked(session, KIND_CALLER, caller_key)
    if locked:
        log.warning("calling card: caller locked out", extra={"uniqueid": channel.uniqueid})
        raise CallRefused(LOCKED, "caller ID locked after repeated PIN failures")

    vn = language = None
    for attempt in range(1, TRIES + 1):
        pin = await channel.get_data("agent-pass", PIN_TIMEOUT_MS, 10)
        if not pin:
            continue  # silence: ask again, then give up below
        async with deps.db() as session, session.begin():
            row = (
                await session.execute(
                    select(VirtualNumber, Account.language)
                    .join(Account, Account.id == VirtualNumber.account_id)
                    .where(VirtualNumber.pin_hmac == pin_hmac(s.pin_hmac_key, pin))
                )
            ).first()
            vn, language = row if row is not None else (None, None)
            if vn is not None:
                await lockouts.clear(session, KIND_CALLER, caller_key)
                break
            locked_now = await lockouts.record_failure(
                session,
                KIND_CALLER,
                caller_key,
                max_failures=s.pin_max_failures,
                window=dt.timedelta(seconds=s.pin_failure_window_s),
                lock_for=dt.timedelta(seconds=s.pin_lock_s),
            )
        log.info("calling card: wrong PIN", extra={"attempt": attempt, "uniqueid": channel.uniqueid})
        if locked_now:
            raise CallRefused(LOCKED, "caller ID locked after repeated PIN failures")
        await channel.stream_file("vm-incorrect")
    if vn is None:
        raise CallRefused("forbidden", "no valid PIN after 3 tries")

    language = cv.prompt_language(language)
    if language:
        await channel.set_variable(cv.VAR_LANGUAGE, language)
        log.info(
            "calling card: prompt language",
            extra={"vnum": vn.number, "language": language, "uniqueid": channel.uniqueid},
        )
    await _announce_balance(channel, deps, vn, language)
    for _ in range(2):
        raw = await channel.get_data("vm-enter-num-to-call", NUMBER_TIMEOUT_MS, 20)
        if raw:
            break
    else:
        raise CallRefused("invalid_number", "no destination entered")
    if normalize(raw) in EMERGENCY_NUMBERS:
        raise CallRefused("invalid_number", "911 from a calling card: dial it from the phone itself")
    await decide_and_apply(channel, deps, vn.number, raw, answered=True)


async def _announce_balance(channel: Channel, deps: Deps, vn: VirtualNumber, language: str | None) -> None:
    """'You have 2 dollars and 1 minute': pay-as-you-go credit, then plan minutes, if any.
    Playback rather than STREAM FILE: Asterisk logs each file it plays, in its language."""
    from db import billing

    async with deps.db() as session:
        available = await billing.available_balance_async(session, vn.account_id, vn.id)
    minutes = available.plan_seconds(DialClass.REGIONAL) // 60
    for step in balance(available.credit, minutes, language):
        if isinstance(step, Number):
            await channel.exec("SayNumber", *((step.value, step.gender) if step.gender else (step.value,)))
        else:
            await channel.exec("Playback", step.name)
    log.info(
        "calling card: balance announced",
        extra={"vnum": vn.number, "credit": str(available.credit), "plan_minutes": minutes},
    )
