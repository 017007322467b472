"""Route `callingcard`: the access number. The card number (the member's virtual number,
`agent-user`), then its PIN (`agent-pass`, at most 3 tries per call), then the remaining
balance and plan minutes (said as controller.rules.prompts says them in the member's
language), then the destination, then the same permission and credit rules as an outbound call,
dialed with its time limit. A caller who says nothing is hung up on after the prompts time out.

PIN model (issue 13, docs/fraud.md "PINs"): a PIN is checked against the one card named, never
looked up across the service, so PINs need not be unique and the panel never says a PIN is
taken. Two limits, each taken and judged in one statement (db.lockouts.take) BEFORE the PIN is
compared, so concurrent attempts cannot all pass; a good PIN gives its attempt back:
  - per card, whatever the caller ID: card_pin_max_failures wrong PINs within
    card_pin_window_s lock the card for card_pin_lock_s (setting a new PIN in the panel lifts
    it; the owner is emailed when it locks). A number that is nobody's card counts and locks
    exactly the same (no oracle).
  - per access number, all cards and callers: pin_budget wrong PINs within
    pin_budget_window_s close PIN entry on that number for the window.
A caller refused by either hears `pin_locked`, before the PIN is asked when the lock is known.

Language: the card and PIN prompts are in the channel's default language (the caller is
nobody yet, and a caller ID proves nothing); from the right PIN on, every prompt and refusal is
in the member's Account.language (CHANNEL(language))."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import hmac
import logging

from sqlalchemy import select

from agi.channel import Channel
from agi.errors import CallRefused
from agi.outbound import decide_and_apply
from controller.rules import channel_vars as cv
from controller.rules.numbers import EMERGENCY_NUMBERS, DialClass, normalize
from controller.rules.prompts import Number, balance
from controller.rules.secrets import card_pin_hmac, pin_hmac
from controller.services import mailer
from controller.services.deps import Deps
from db import lockouts
from db.models import Account, VirtualNumber

log = logging.getLogger("agi.callingcard")

TRIES = 3
PIN_TIMEOUT_MS = 8000
CARD_TIMEOUT_MS = 10000
NUMBER_TIMEOUT_MS = 10000
CARD_PROMPT = "agent-user"  # "... please enter your (agent) number followed by the pound key"
PIN_PROMPT = "agent-pass"
LOCKED = "pin_locked"  # the refusal (channel_vars.REFUSALS) a locked card or access number hears


class Verdict(enum.Enum):
    GOOD = "good"
    WRONG = "wrong"
    LOCKED = "locked"  # refused without comparing: a limit was already reached
    LOCKING = "locking"  # wrong, and this failure reached a limit


def access_key(access_number: str) -> str:
    return lockouts.key_for(f"access:{access_number}")


async def check_pin(
    deps: Deps, access_number: str, card: str, pin: str
) -> tuple[Verdict, VirtualNumber | None, str | None]:
    """One PIN attempt against the card numbered `card`, through both limits. Returns the
    verdict, and the card and its owner's language when GOOD."""
    s = deps.settings
    card_key = lockouts.key_for(card)
    budget_key = access_key(access_number)
    async with deps.db() as session, session.begin():
        budget = await lockouts.take(
            session,
            lockouts.KIND_CARD_BUDGET,
            budget_key,
            limit=s.pin_budget,
            window=dt.timedelta(seconds=s.pin_budget_window_s),
            lock_for=dt.timedelta(seconds=s.pin_budget_window_s),
        )
        if not budget.allowed:
            return Verdict.LOCKED, None, None
        per_card = await lockouts.take(
            session,
            lockouts.KIND_CARD_PIN,
            card_key,
            limit=s.card_pin_max_failures,
            window=dt.timedelta(seconds=s.card_pin_window_s),
            lock_for=dt.timedelta(seconds=s.card_pin_lock_s),
        )
        if not per_card.allowed:  # no PIN compared: not a guess, the budget gets it back
            await lockouts.give_back(session, lockouts.KIND_CARD_BUDGET, budget_key, limit=s.pin_budget)
            return Verdict.LOCKED, None, None
        row = (
            await session.execute(
                select(VirtualNumber, Account.language, Account.email)
                .join(Account, Account.id == VirtualNumber.account_id)
                .where(VirtualNumber.number == card)
            )
        ).first()
        vn, language, email = row if row is not None else (None, None, None)
        good = False
        if vn is not None and vn.pin_hmac:
            if hmac.compare_digest(vn.pin_hmac, card_pin_hmac(s.pin_hmac_key, vn.id, pin)):
                good = True
            elif hmac.compare_digest(vn.pin_hmac, pin_hmac(s.pin_hmac_key, pin)):
                good = True  # a PIN set before the card-keyed hash: upgrade it (migration 0015)
                vn.pin_hmac = card_pin_hmac(s.pin_hmac_key, vn.id, pin)
        if good:
            await lockouts.give_back(session, lockouts.KIND_CARD_BUDGET, budget_key, limit=s.pin_budget)
            await lockouts.give_back(session, lockouts.KIND_CARD_PIN, card_key, limit=s.card_pin_max_failures)
            return Verdict.GOOD, vn, language
        if vn is not None and email and per_card.count == s.card_pin_max_failures:
            _mail_locked(deps, email, vn.number)  # this failure locked the card
        if per_card.locked_until is not None or budget.locked_until is not None:
            return Verdict.LOCKING, None, None
        return Verdict.WRONG, None, None


def _mail_locked(deps: Deps, email: str, number: str) -> None:
    """Tell the card's owner that wrong PINs locked it; in the background (the caller does not
    wait on SMTP). English, like the other alerts of the call path."""
    s = deps.settings
    subject = f"Calling card {number} locked after wrong PINs"
    body = (
        f"Your calling card {number} was locked after {s.card_pin_max_failures} wrong PINs "
        f"(whatever number they were called from). It opens again in {s.card_pin_lock_s // 60} "
        "minutes.\n\nIf that was not you, someone is guessing your PIN: choose a new PIN on the "
        "Virtual Number page of the control panel (that also unlocks the card at once), and do "
        "not use a PIN you use elsewhere.\n"
    )

    async def send() -> None:
        try:
            await mailer.send_mail(s, email, subject, body)
        except mailer.MailError as exc:
            log.error("card lock mail not sent", extra={"vnum": number, "error": str(exc)[:200]})

    tasks: set[asyncio.Task[None]] = deps.extra.setdefault("card_lock_mails", set())
    task = asyncio.get_running_loop().create_task(send())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def callingcard(channel: Channel, deps: Deps) -> None:
    await channel.answer()
    access_number = channel.extension
    async with asyncio.timeout(2):
        async with deps.db() as session:
            closed = await lockouts.is_locked(session, lockouts.KIND_CARD_BUDGET, access_key(access_number))
    if closed:
        log.warning("calling card: access number's PIN budget spent", extra={"uniqueid": channel.uniqueid})
        raise CallRefused(LOCKED, "PIN entry closed on this access number (failure budget spent)")

    for _ in range(2):
        card = await channel.get_data(CARD_PROMPT, CARD_TIMEOUT_MS, 15)
        if card:
            break
    else:
        raise CallRefused("forbidden", "no card number entered")
    async with asyncio.timeout(2):
        async with deps.db() as session:
            locked = await lockouts.is_locked(session, lockouts.KIND_CARD_PIN, lockouts.key_for(card))
    if locked:
        log.warning("calling card: card locked", extra={"uniqueid": channel.uniqueid})
        raise CallRefused(LOCKED, "card locked after repeated PIN failures")

    vn = language = None
    for attempt in range(1, TRIES + 1):
        pin = await channel.get_data(PIN_PROMPT, PIN_TIMEOUT_MS, 10)
        if not pin:
            continue  # silence: ask again, then give up below
        verdict, vn, language = await check_pin(deps, access_number, card, pin)
        if verdict is Verdict.GOOD:
            break
        log.info(
            "calling card: wrong PIN",
            extra={"attempt": attempt, "verdict": verdict.value, "uniqueid": channel.uniqueid},
        )
        if verdict in (Verdict.LOCKED, Verdict.LOCKING):
            raise CallRefused(LOCKED, "card or access number locked after repeated PIN failures")
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
