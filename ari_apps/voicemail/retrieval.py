"""Listening to messages by phone: `Stasis(<ari_app>, voicemail-main[, <virtual number>])`.

Entry: the voicemail access number (settings.voicemail_numbers, from any phone) asks for the
mailbox first; the feature code (settings.vm_feature_code, default *98, from the member's own
device) passes the endpoint's number. Then the VM password.

Prompts (Asterisk core sounds):
  mailbox      "Comedian Mail. Mailbox?" (vm-login), digits then #
               after a failure: "Login incorrect. Mailbox?" (vm-incorrect-mailbox)
  password     "Password" (vm-password), digits then #; after a failure from the member's
               device: "Login incorrect." (vm-incorrect) first
  refused      `vm_login_attempts` (3) failures in one call: "Login incorrect. Goodbye", hang up
               (cause 21). Failures also count per mailbox across calls (db/lockouts): after
               `vm_login_max_failures` the mailbox is locked for VOIP_PIN_LOCK seconds, and even the
               right password fails meanwhile.
  counts       "You have <n> new messages and <m> saved messages" (vm-youhave, vm-INBOX, vm-saved)
  per message  "First message" / "Message <n>" / "Last message", then the message itself;
               after it, the key help (below) while waiting `vm_menu_timeout_s` for a key
  end          "No more messages. Goodbye" (vm-nomore, vm-goodbye), hang up

Keys, during a message or after it (new messages play first, then saved, oldest first):
  1       replay the message
  2       save it (New -> Saved): "Your message has been saved", then the next message
  7       delete it: "Message deleted", then the next message
  6 or #  next message
  *       help: "Press 1 to listen to it, press 2 for saved, press 7 to delete this message,
          press 6 to play the next message, press star to cancel";
          * again (while or right after the help plays) exits: "Goodbye", hang up
  0       mailbox options (also while the counts are announced, so an empty mailbox reaches them):
          "Press 1 to record your unavailable message, press 2 to record your busy message, ..."
          (vm-options). 1 or 2 records the greeting (one greeting serves both cases), * goes
          back; the other choices of that prompt are not offered here: "I'm sorry" (vm-sorry).
Recording the greeting: "After the tone say your unavailable message and then press the pound
key" (vm-rec-unv), beep, record until #, silence or service.GREETING_MAX_SECONDS; shorter than
service.GREETING_MIN_SECONDS: "Your message is too short" (vm-tooshort) and again. Then "press 1
to accept this recording, press 2 to listen to it, press 3 to rerecord" (vm-review): 1 stores it
as the mailbox's greeting (service.set_greeting, the same one the panel sets) and says "Your
message has been saved" (vm-msgsaved); a hang-up or silence before 1 keeps the old greeting, and
so do GREETING_ATTEMPTS recordings none of which was accepted.
Every key stops the prompt being played; keys typed ahead are kept for the next question.
Each save and delete sends MWI to the member's phones (through the service's notifier).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re

from ari_apps.line import CallerGone, Line, LineError
from ari_apps.voicemail.context import VoicemailContext
from controller.rules.secrets import hash_password, verify_password
from controller.services.ari import ARIError
from controller.services.voicemail import service
from controller.services.voicemail.mwi import queue_mwi
from db import lockouts

log = logging.getLogger("ari_apps.voicemail.retrieval")

LOCKOUT_KIND = "vm_password"
REFUSED_CAUSE = 21  # Q.850 call rejected
_NUMBER = re.compile(r"^[0-9]{4,15}$")

OPTIONS = ("sound:vm-options",)
GREETING_PROMPT = ("sound:vm-rec-unv",)
REVIEW = ("sound:vm-review",)
GREETING_ATTEMPTS = 3  # recordings (too short, or "3" to re-record) before giving up
HELP = (
    "sound:vm-press",
    "digits:1",
    "sound:to-listen-to-it",
    "sound:vm-press",
    "digits:2",
    "sound:vm-for",
    "sound:vm-saved",
    "sound:vm-delete",
    "sound:vm-next",
    "sound:vm-star-cancel",
)
GOODBYE = ("sound:vm-goodbye",)

_dummy_hash: str | None = None


def greeting_recording_name(number: str, channel_id: str) -> str:
    return f"vmgreet-{number}-{re.sub(r'[^0-9A-Za-z]', '-', channel_id)}"


def count_prompt(new: int, saved: int) -> tuple[str, ...]:
    def part(n: int, folder: str) -> tuple[str, ...]:
        return (
            "sound:vm-no" if n == 0 else f"number:{n}",
            f"sound:{folder}",
            "sound:vm-message" if n == 1 else "sound:vm-messages",
        )

    return ("sound:vm-youhave", *part(new, "vm-INBOX"), "sound:vm-and", *part(saved, "vm-saved"))


def message_intro(index: int, total: int) -> tuple[str, ...]:
    if index == 0:
        return ("sound:vm-first", "sound:vm-message")
    if index == total - 1:
        return ("sound:vm-last", "sound:vm-message")
    return ("sound:vm-message", f"number:{index + 1}")


async def retrieve(line: Line, ctx: VoicemailContext, number: str | None) -> None:
    try:
        await line.answer()
        number = number if number and _NUMBER.match(number) else None
        if number is not None:
            # the feature code from the member's own device: its language from the first prompt
            # (from any phone, the mailbox's language only once its password is right)
            own = await ctx.read(service.mailbox, number)
            if own is not None:
                await line.use_language(own.language)
        box = await login(line, ctx, number)
        if box is None:
            await line.play("sound:vm-goodbye", interruptible=False)
            await line.hangup_with_cause(REFUSED_CAUSE)
            return
        await line.use_language(box.language)
        await Session(line, ctx, box).run()
        await line.play(*GOODBYE, interruptible=False)
    except CallerGone:
        pass
    except LineError as exc:
        log.error("voicemail retrieval failed", extra={"error": str(exc)[:300]})
    finally:
        await line.hangup()


async def login(line: Line, ctx: VoicemailContext, number: str | None) -> service.Mailbox | None:
    """Mailbox (unless known) and password, up to vm_login_attempts times."""
    timeout = ctx.settings.vm_menu_timeout_s
    prompt: tuple[str, ...]
    for attempt in range(ctx.settings.vm_login_attempts):
        if number is None:
            prompt = ("sound:vm-login",) if attempt == 0 else ("sound:vm-incorrect-mailbox",)
            keyed = await line.read_digits(prompt, max_digits=15, timeout=timeout)
            if keyed is None:
                continue  # silence counts as a failed attempt: nobody waits for ever
            mailbox_number = keyed
            prompt = ("sound:vm-password",)
        else:
            mailbox_number = number
            prompt = ("sound:vm-password",) if attempt == 0 else ("sound:vm-incorrect", "sound:vm-password")
        password = await line.read_digits(prompt, max_digits=10, timeout=timeout)
        if password is None:
            continue
        box = await check_password(ctx, mailbox_number, password)
        if box is not None:
            log.info("voicemail login", extra={"vnum": box.number})
            return box
    if number is None:
        await line.play("sound:vm-incorrect", interruptible=False)
    log.info(
        "voicemail login refused", extra={"vnum": number or "", "attempts": ctx.settings.vm_login_attempts}
    )
    return None


async def check_password(ctx: VoicemailContext, number: str, password: str) -> service.Mailbox | None:
    """The mailbox when `password` opens it: it exists, voicemail is on, the account is active,
    it is not locked, and the argon2 hash matches. Failures are counted per mailbox."""
    if not _NUMBER.match(number):
        return None
    key = lockouts.key_for(number)
    async with ctx.db() as session:
        locked = await lockouts.is_locked(session, LOCKOUT_KIND, key)
        box = await session.run_sync(service.mailbox, number)
    usable = box is not None and box.voicemail_enabled and box.account_active and not locked
    # verify even for an unknown mailbox, so timing does not tell which mailboxes exist
    stored = box.password_hash if usable and box.password_hash else _dummy()
    good = await asyncio.to_thread(verify_password, stored, password)
    s = ctx.settings
    async with ctx.db() as session, session.begin():
        if usable and good and box.password_hash:
            await lockouts.clear(session, LOCKOUT_KIND, key)
            return box
        if await lockouts.record_failure(
            session,
            LOCKOUT_KIND,
            key,
            max_failures=s.vm_login_max_failures,
            window=dt.timedelta(seconds=s.pin_failure_window_s),
            lock_for=dt.timedelta(seconds=s.pin_lock_s),
        ):
            log.warning("voicemail mailbox locked after repeated failures", extra={"vnum": number})
    return None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not-a-voicemail-password")
    return _dummy_hash


class Session:
    """One logged-in retrieval call: walks the mailbox's messages with the keys above."""

    def __init__(self, line: Line, ctx: VoicemailContext, box: service.Mailbox):
        self.line, self.ctx, self.box = line, ctx, box

    async def run(self) -> None:
        new, saved = await self.ctx.read(service.counts, self.box.vn_id)
        await self.line.play(*count_prompt(new, saved))
        if self.line.take_key("0"):
            await self.options()
        messages = await self.ctx.read(service.list_messages, self.box.vn_id)
        index = 0
        while index < len(messages):
            outcome = await self.message(messages[index], index, len(messages))
            if outcome == "exit":
                return
            index += 1
        if messages:
            await self.line.play("sound:vm-nomore")

    async def message(self, info: service.MessageInfo, index: int, total: int) -> str:
        """Play one message and act on keys; returns "next" or "exit"."""
        line, timeout = self.line, self.ctx.settings.vm_menu_timeout_s
        await line.play(*message_intro(index, total))
        play_audio = True
        prompt_help = True  # after the message, the key help while waiting for a key
        help_given = False  # the last key was *: another * exits
        silent_rounds = 0
        while True:
            if play_audio:
                if not await self._play_audio(info):
                    return "next"  # gone meanwhile (deleted from the panel)
                play_audio = False
            if prompt_help:
                await line.play(*HELP)  # skipped when a key is already waiting
                prompt_help = False
            key = await line.read_key(timeout)
            if key is None:
                silent_rounds += 1
                if silent_rounds >= 2:
                    return "exit"
                prompt_help = True
                continue
            silent_rounds = 0
            if key == "*":
                if help_given:
                    return "exit"
                help_given = True
                await line.play(*HELP)
                continue
            help_given = False
            if key == "1":
                play_audio = prompt_help = True
            elif key == "2":
                if await self.ctx.write(service.save_message, self.box.vn_id, info.id, notify=queue_mwi):
                    log.info(
                        "voicemail saved by phone", extra={"vnum": self.box.number, "message_id": info.id}
                    )
                await line.play("sound:vm-msgsaved")
                return "next"
            elif key == "7":
                if await self.ctx.write(service.delete_message, self.box.vn_id, info.id, notify=queue_mwi):
                    log.info(
                        "voicemail deleted by phone", extra={"vnum": self.box.number, "message_id": info.id}
                    )
                await line.play("sound:vm-deleted")
                return "next"
            elif key in ("6", "#"):
                return "next"
            elif key == "0":
                await self.options()
                prompt_help = True
            else:
                await line.play("sound:vm-sorry")
                prompt_help = True

    async def options(self) -> None:
        """Mailbox options (key 0): 1 or 2 records the greeting, * (or silence) goes back."""
        line, timeout = self.line, self.ctx.settings.vm_menu_timeout_s
        silent_rounds = 0
        while silent_rounds < 2:
            await line.play(*OPTIONS)
            key = await line.read_key(timeout)
            if key is None:
                silent_rounds += 1
            elif key in ("1", "2"):
                await self.record_greeting()
                return
            elif key == "*":
                return
            else:
                silent_rounds = 0
                await line.play("sound:vm-sorry")

    async def record_greeting(self) -> bool:
        """Record, review and keep the mailbox's greeting; True when a new one was stored."""
        line, ctx = self.line, self.ctx
        name = greeting_recording_name(self.box.number, line.id)
        try:
            for _attempt in range(GREETING_ATTEMPTS):  # until accepted, given up, or hung up
                await line.play(*GREETING_PROMPT)
                line.clear_keys()
                await line.record(
                    name,
                    max_seconds=service.GREETING_MAX_SECONDS,
                    max_silence_seconds=ctx.settings.vm_max_silence_s,
                    terminate_on="#",
                    beep=True,
                )
                audio = await self._stored_audio(name)
                if audio is None or service.wav_seconds(audio) < service.GREETING_MIN_SECONDS:
                    await line.play("sound:vm-tooshort")
                    continue
                verdict = await self._review(name)
                if verdict == "accept":
                    await ctx.write(service.set_greeting, self.box.vn_id, audio=audio)
                    log.info(
                        "voicemail greeting set by phone",
                        extra={"vnum": self.box.number, "seconds": round(service.wav_seconds(audio), 2)},
                    )
                    await line.play("sound:vm-msgsaved")
                    return True
                if verdict == "give_up":
                    return False
            return False
        finally:
            try:
                await ctx.ari.delete(f"/recordings/stored/{name}")
            except ARIError:
                pass  # never recorded, or already gone

    async def _review(self, name: str) -> str:
        """vm-review: "accept" (1), "again" (3), "give_up" (silence twice)."""
        line, timeout = self.line, self.ctx.settings.vm_menu_timeout_s
        silent_rounds = 0
        while silent_rounds < 2:
            await line.play(*REVIEW)
            key = await line.read_key(timeout)
            if key is None:
                silent_rounds += 1
                continue
            silent_rounds = 0
            if key == "1":
                return "accept"
            if key == "2":
                await line.play(f"recording:{name}")
            elif key == "3":
                return "again"
            else:
                await line.play("sound:vm-sorry")
        return "give_up"

    async def _stored_audio(self, name: str) -> bytes | None:
        try:
            audio = await self.ctx.ari.get(f"/recordings/stored/{name}/file")
        except ARIError as exc:
            if exc.status != 404:
                log.error(
                    "greeting recording not fetched", extra={"vnum": self.box.number, "error": str(exc)[:200]}
                )
            return None
        return bytes(audio) if isinstance(audio, (bytes, bytearray)) else None

    async def _play_audio(self, info: service.MessageInfo) -> bool:
        audio = await self.ctx.read(service.get_audio, self.box.vn_id, info.id)
        if audio is None:
            return False
        written = await asyncio.to_thread(self.ctx.media.message, info.id, audio[0])
        if written is None:
            log.error("message audio unplayable", extra={"vnum": self.box.number, "message_id": info.id})
            return True
        uri, path = written
        try:
            await self.line.play(uri)
        finally:
            await asyncio.to_thread(self.ctx.media.remove, path)
        return True
