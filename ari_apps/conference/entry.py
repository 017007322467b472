"""A caller's way into a conference: answer, the PIN, the refusals; then participants.join.

Caller's journey (channels enter with `Stasis(<ari_app>,conference[,tollfree])`):
  answer -> `conf-getpin` ("Please enter the conference pin number"), digits until `#`
  (`*` clears, keying stops the prompt, silence times out) -> at most
  settings.conference_pin_tries tries:
    unknown PIN              `conf-invalidpin`, ask again; after the last try
                             `confbridge-pin-bad` + `goodbye`, hang up
    PIN entry locked         `confbridge-pin-bad` + `goodbye` (see "Limits" below)
    conference over/expired  `confbridge-conf-end` ("the conference has ended") + `goodbye`
    before the window opens  `please-try-call-later` + `goodbye`
    toll-free, 800 not allowed `feature-not-avail-line` + `goodbye`
  -> joined to the conference's bridge with the PIN's role (participants.py).

Limits (issue 13, docs/fraud.md "PINs"): a PIN alone names its conference (all PINs are drawn
by the service, 6 digits, unique), so a wrong PIN names no conference to lock; instead every
attempt is counted BEFORE the PIN is looked up, each in one atomic statement
(db.lockouts.take): per caller ID (settings.pin_max_failures), and for the whole conference
service, all access numbers and all caller IDs together (settings.conference_pin_budget
failures per pin_budget_window_s: beyond it PIN entry is closed for everyone until the window
has passed). A right PIN gives its attempts back. Rotating caller IDs therefore only reach the
service-wide budget.

Language: prompts before the PIN are in the channel's default language; once the PIN names a
conference, the caller's channel takes the conference owner's Account.language
(CHANNEL(language)), and the bridge announcements are played with it (`lang`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from ari_apps.conference import participants
from ari_apps.conference.context import ConferenceContext
from ari_apps.conference.media import (
    REFUSAL_SOUNDS,
    SOUND_ENDED,
    SOUND_GET_PIN,
    SOUND_GOODBYE,
    SOUND_INVALID_PIN,
    SOUND_TOO_MANY,
    to_channel,
)
from ari_apps.line import CallerGone, Line, hang_up
from controller.rules import channel_vars as cv
from controller.rules import conference as rules
from controller.rules.conference import Entry
from controller.services.conference import service
from controller.services.conference.service import PinMatch
from db import lockouts

log = logging.getLogger("ari_apps.conference")

KIND_CALLER = "conf_caller"  # lockouts kind: wrong conference PINs per caller ID
BUDGET_KEY = lockouts.key_for("conference")  # KIND_CONF_BUDGET: the whole conference service


async def call(ctx: ConferenceContext, line: Line, tollfree: bool) -> None:
    """The whole call up to the room; the line is open (keys routed to it) until then."""
    try:
        await line.answer()
        match = await ask_pin(ctx, line, line.caller_number or "anonymous", tollfree)
        if match is not None and not await participants.join(ctx, line, match):
            await refuse(ctx, line, SOUND_ENDED, "expired while joining")
    except CallerGone:
        log.info("conference caller gone", extra={"channel": line.id})
        await hang_up(ctx.ari, line.id)  # in case only the bridge was gone
    except Exception:
        log.exception("conference call failed", extra={"channel": line.id})
        await hang_up(ctx.ari, line.id)
    finally:
        ctx.callers.close(line)


async def ask_pin(ctx: ConferenceContext, line: Line, caller: str, tollfree: bool) -> PinMatch | None:
    """The PIN's conference and role when the caller may come in now; None once refused."""
    s = ctx.settings
    caller_key = lockouts.key_for(caller)
    async with ctx.db() as session:
        locked = await lockouts.is_locked(session, KIND_CALLER, caller_key) or await lockouts.is_locked(
            session, lockouts.KIND_CONF_BUDGET, BUDGET_KEY
        )
    if locked:
        log.warning("conference PIN entry locked", extra={"channel": line.id})
        await refuse(ctx, line, SOUND_TOO_MANY, "caller locked out")
        return None
    keyed_any = False
    for attempt in range(1, max(1, s.conference_pin_tries) + 1):
        digits = await collect_digits(ctx, line, SOUND_GET_PIN, s.conference_pin_timeout)
        if not digits:
            continue
        keyed_any = True
        admission, locked_now, language = await _attempt(ctx, caller_key, digits, tollfree)
        if locked_now is None:  # refused before the PIN was looked up
            log.info("conference: PIN entry locked", extra={"channel": line.id, "attempt": attempt})
            await refuse(ctx, line, SOUND_TOO_MANY, "PIN entry locked")
            return None
        if admission.match is not None and language:
            # from here on (refusal or conference) the owner's language
            ctx.languages[admission.match.conference.id] = language
            await line.use_language(language)
        if admission.match is None:
            log.info("conference: unknown PIN", extra={"channel": line.id, "attempt": attempt})
            if locked_now:
                await refuse(ctx, line, SOUND_TOO_MANY, "caller locked out")
                return None
            if attempt < s.conference_pin_tries:
                await ctx.playbacks.play_and_wait(to_channel(line.id), [SOUND_INVALID_PIN])
            continue
        entry = admission.entry
        if entry is Entry.OK:
            return admission.match
        assert entry is not None  # a PIN that names a conference comes with its verdict
        log.info(
            "conference: entry refused",
            extra={"channel": line.id, "conference": admission.match.conference.id, "reason": entry.value},
        )
        await refuse(ctx, line, REFUSAL_SOUNDS[entry], entry.value)
        return None
    await refuse(ctx, line, SOUND_TOO_MANY if keyed_any else SOUND_GOODBYE, "no valid PIN")
    return None


async def _attempt(
    ctx: ConferenceContext, caller_key: str, digits: str, tollfree: bool
) -> tuple[service.Admission, bool | None, str | None]:
    """One PIN attempt through both limits, taken (and committed: the service-wide row is
    locked only for that statement) before the PIN is looked up. `locked_now` None: a limit
    refused the attempt unseen; True: this wrong PIN reached a limit."""
    s = ctx.settings
    async with ctx.db() as session, session.begin():
        per_caller = await lockouts.take(
            session,
            KIND_CALLER,
            caller_key,
            limit=s.pin_max_failures,
            window=dt.timedelta(seconds=s.pin_failure_window_s),
            lock_for=dt.timedelta(seconds=s.pin_lock_s),
        )
        if not per_caller.allowed:
            return service.Admission(None, None), None, None
        budget = await lockouts.take(
            session,
            lockouts.KIND_CONF_BUDGET,
            BUDGET_KEY,
            limit=s.conference_pin_budget,
            window=dt.timedelta(seconds=s.pin_budget_window_s),
            lock_for=dt.timedelta(seconds=s.pin_budget_window_s),
        )
        if not budget.allowed:  # no PIN looked up: not this caller's failure
            await lockouts.give_back(session, KIND_CALLER, caller_key, limit=s.pin_max_failures)
            return service.Admission(None, None), None, None
    async with ctx.db() as session, session.begin():
        admission = await service.admit(
            session, digits, ctx.now(), tollfree=tollfree, early_minutes=s.conference_early_minutes
        )
        if admission.match is None:
            return admission, per_caller.locked_until is not None or budget.locked_until is not None, None
        await lockouts.give_back(session, KIND_CALLER, caller_key, limit=s.pin_max_failures)
        await lockouts.give_back(
            session, lockouts.KIND_CONF_BUDGET, BUDGET_KEY, limit=s.conference_pin_budget
        )
        language = cv.prompt_language(await service.owner_language(session, admission.match.conference.id))
    return admission, False, language


async def collect_digits(ctx: ConferenceContext, line: Line, prompt: str, timeout: float) -> str:
    """Play `prompt` and gather keys until `#`, the longest PIN, or `timeout` seconds
    without a key. The first key stops the prompt; the wait counts from the prompt's start."""
    playback = await ctx.playbacks.start(to_channel(line.id), [prompt])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    digits = ""
    try:
        while len(digits) < rules.PIN_MAX_DIGITS:
            digit = await line.read_key(max(0.0, deadline - loop.time()))
            if digit is None:
                break
            await ctx.playbacks.stop(playback)
            if digit == "#":
                break
            if digit == "*":
                digits = ""
            elif digit.isdigit():
                digits += digit
            deadline = loop.time() + timeout
    finally:
        await ctx.playbacks.stop(playback)
    return digits


async def refuse(ctx: ConferenceContext, line: Line, sounds: tuple[str, ...], why: str) -> None:
    """Tell the caller why (waiting for the sounds' end), then hang up."""
    ctx.stats["refused"] += 1
    await ctx.playbacks.play_and_wait(to_channel(line.id), list(sounds))
    await hang_up(ctx.ari, line.id)
