"""Leaving a message: `Stasis(<ari_app>, voicemail, <virtual number>[, busy])` (forwarding step 1
or 3; `busy` when the plan reached voicemail because the member was busy).

Answer; play the member's greeting (VoicemailGreeting), or a default that names the number and
says why, as app_voicemail's default greetings do ("The person at extension <digits> is on the
phone" when busy, "... is unavailable" otherwise; then "Please leave your message after the
tone..."); a member has one recorded greeting, played whatever the reason; any key skips it;
beep; record (wav) until `#`, `vm_max_silence_s` of silence, `vm_max_message_s` or the caller
hanging up; "Thank you. Goodbye." The audio is fetched from ARI (`GET
/recordings/stored/{name}/file`, then the stored recording is deleted), messages shorter than
`vm_min_message_s` are discarded, the rest is stored in folder New with the caller ID, then MWI
(through the service's notifier) and an email as the member's notification settings say.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re

from ari_apps.line import CallerGone, Line, LineError
from ari_apps.voicemail.context import VoicemailContext
from controller.rules import channel_vars as cv
from controller.services import notifications
from controller.services.ari import ARIError
from controller.services.mailer import MailError
from controller.services.voicemail import service
from controller.services.voicemail.mwi import queue_mwi

log = logging.getLogger("ari_apps.voicemail.deposit")

_NUMBER = re.compile(r"^[0-9]{4,15}$")


def default_greeting(number: str, busy: bool = False) -> tuple[str, ...]:
    why = "sound:vm-isonphone" if busy else "sound:vm-isunavail"
    return ("sound:vm-theperson", f"digits:{number}", why, "sound:vm-intro")


def recording_name(number: str, channel_id: str) -> str:
    return f"vm-{number}-{re.sub(r'[^0-9A-Za-z]', '-', channel_id)}"


async def deposit(line: Line, ctx: VoicemailContext, number: str, busy: bool = False) -> int | None:
    """The whole deposit call; returns the stored message's id, or None. `busy`: the member was
    busy (the default greeting says they are on the phone)."""
    if not _NUMBER.match(number or ""):
        log.warning("voicemail for a malformed number", extra={"vnum": (number or "")[:20]})
        await line.continue_in_dialplan(cv.CTX_REFUSED, "not_in_service")
        return None
    box = await ctx.read(service.mailbox, number)
    if box is None or not box.voicemail_enabled or not box.account_active:
        log.info("voicemail refused", extra={"vnum": number, "reason": "no mailbox or VM off"})
        await line.continue_in_dialplan(cv.CTX_REFUSED, "not_in_service")
        return None

    name = recording_name(number, line.id)
    recording = None
    try:
        await line.answer()
        await line.use_language(box.language)  # the mailbox owner's prompt language
        await line.play(*await _greeting(ctx, box, busy))
        line.clear_keys()
        recording = await line.record(
            name,
            max_seconds=ctx.settings.vm_max_message_s,
            max_silence_seconds=ctx.settings.vm_max_silence_s,
            terminate_on="#",
            beep=True,
        )
        if not line.gone:
            await line.play("sound:auth-thankyou", "sound:vm-goodbye", interruptible=False)
    except CallerGone:
        pass  # a hang-up during the recording still leaves a message
    except LineError as exc:
        log.error("voicemail deposit failed", extra={"vnum": number, "error": str(exc)[:300]})
    finally:
        await line.hangup()
    return await _keep(ctx, box, name, recording, line.caller_name, line.caller_number)


async def _greeting(ctx: VoicemailContext, box: service.Mailbox, busy: bool) -> tuple[str, ...]:
    try:
        greeting = await ctx.read(service.get_greeting, box.vn_id)
        if greeting is not None:
            uri = await asyncio.to_thread(ctx.media.greeting, box.vn_id, greeting[0])
            if uri:
                return (uri,)
            log.warning("greeting unusable: default played", extra={"vnum": box.number})
    except OSError as exc:
        log.error("greeting not written: default played", extra={"vnum": box.number, "error": str(exc)})
    return default_greeting(box.number, busy)


async def _keep(
    ctx: VoicemailContext,
    box: service.Mailbox,
    name: str,
    recording: dict | None,
    caller_name: str,
    caller_number: str,
) -> int | None:
    """Fetch the stored recording from ARI, drop it there, store it with us."""
    try:
        audio = await ctx.ari.get(f"/recordings/stored/{name}/file")
    except ARIError as exc:
        if exc.status != 404:
            log.error("recording not fetched", extra={"vnum": box.number, "error": str(exc)[:200]})
        return None  # 404: nothing was recorded (hang-up during the greeting)
    try:
        await ctx.ari.delete(f"/recordings/stored/{name}")
    except ARIError as exc:
        log.warning("stored recording not deleted", extra={"recording": name, "error": str(exc)[:200]})
    if not isinstance(audio, (bytes, bytearray)):
        return None
    seconds = service.wav_seconds(bytes(audio))
    if seconds < ctx.settings.vm_min_message_s:
        log.info("voicemail too short: discarded", extra={"vnum": box.number, "seconds": round(seconds, 2)})
        return None
    message_id = await ctx.write(
        service.store_message,
        box.vn_id,
        audio=bytes(audio),
        duration_seconds=seconds,
        caller_name=caller_name,
        caller_number=caller_number,
        notify=queue_mwi,
    )
    log.info(
        "voicemail stored",
        extra={
            "vnum": box.number,
            "message_id": message_id,
            "seconds": round(seconds, 2),
            "asterisk_duration": (recording or {}).get("duration"),
        },
    )
    ctx.background(
        email_message(ctx, box, message_id, bytes(audio), seconds, caller_name, caller_number),
        name=f"vm-email-{message_id}",
    )
    return message_id


async def email_message(
    ctx: VoicemailContext,
    box: service.Mailbox,
    message_id: int,
    audio: bytes,
    seconds: float,
    caller_name: str,
    caller_number: str,
) -> bool:
    """Email a new message to the account's address as the member's notification settings say
    (controller/services/notifications.py: off, with the WAV or a link, deleted once sent); a
    failure is logged and the message stays (the phone and the panel still have it; the
    notifications round tries the email again)."""
    if not box.email:
        log.info("voicemail not emailed: no address", extra={"vnum": box.number, "message_id": message_id})
        return False
    prefs = await ctx.read(notifications.prefs, box.account_id)
    if not prefs.voicemail_email:
        log.info("voicemail not emailed: switched off", extra={"vnum": box.number, "message_id": message_id})
        return False
    subject, body, attachments = notifications.voicemail_email(
        ctx.settings,
        number=box.number,
        message_id=message_id,
        caller_name=caller_name,
        caller_number=caller_number,
        received_at=dt.datetime.now(dt.UTC),
        seconds=seconds,
        time_zone=prefs.time_zone,
        audio=audio if prefs.voicemail_attach else None,
        language=prefs.language,  # the account's language (controller/services/mail_i18n.py)
    )
    try:
        await ctx.send_mail(ctx.settings, box.email, subject, body, attachments)
    except MailError as exc:
        log.error(
            "voicemail email failed: message kept",
            extra={"vnum": box.number, "message_id": message_id, "error": str(exc)[:300]},
        )
        return False
    try:
        await ctx.write(
            notifications.voicemail_sent,
            box.account_id,
            box.vn_id,
            message_id,
            box.email,
            delete_after=prefs.delete_after_email,
        )
    except Exception as exc:
        log.warning("emailed_at not recorded", extra={"message_id": message_id, "error": repr(exc)[:200]})
    return True
