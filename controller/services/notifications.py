"""Notifications by email (issue 16), each switched per account in notification_settings (no row:
the defaults, DEFAULTS below), all to the account's email address:

- missed call: one email per missed call (db.calls.missed, the Missed Calls page's definition),
  found by reading the CDRs past the job_cursors row "missed_call"; the calls of a CDR are looked
  at once it ended MISSED_SETTLE_S ago (a forwarded leg answered later makes it not missed);
- voicemail: the deposit (ari_apps/voicemail/deposit.py) emails each new message at once
  through `voicemail_email` here, honouring voicemail_email (off: none), voicemail_attach (the
  WAV, or a link to the panel's mailbox) and voicemail_delete_after (the message is deleted once
  SMTP accepted the email, with an MWI update as the panel's delete); a message whose email
  failed is retried by the round after VOICEMAIL_RETRY_AFTER_S, for a day;
- low balance: the balance (sum of credit_lots.remaining) under accounts.low_balance_threshold,
  one email per crossing (low_balance_watch remembers whether it was seen below);
- weekly summary: the ISO week's calls, minutes, spend, voicemails and missed calls, once per
  week (key "2026-W49"), from Monday WEEKLY_SEND_HOUR:00 in the account's time zone (for
  WEEKLY_SEND_WITHIN: a late round still sends it, an old week is never sent).

A call the number's screening refused (a blocked or anonymous caller, migration 0029) is on the
Missed Calls page but never emailed; a missed call older than MISSED_EMAIL_WITHIN (after a mail
or controller outage) is not emailed either. The cursor never passes a hole in the CDR ids (a
CDR still being written: ids do not commit in order) until MISSED_GAP_WAIT_S. Each email reads
its switch and the account's address again just before it goes.

Each email is written in the account's language (accounts.language: en, es, fr), its texts from
the panel's catalogs and its money, numbers and dates formatted for the language with the zone
named (controller/services/mail_i18n.py; `scripts/i18n extract` reads this file's msgids).

Every email is claimed in notifications_sent, unique per (account, kind, key), in the
transaction that sends it and committed once SMTP accepted it: two controllers never send one
twice (the second waits on the first's row, then finds it), and a controller that dies between
the server's acceptance and that commit sends it again at its next round: at least once, as
invoices (controller/services/invoicing.py) and webhooks do. A failed send never records anything: a transient failure (server down) ends the round and the
next one tries again; a permanent one (bad address) skips that account's email only. The round
(`run_round`) is synchronous, in a worker thread of `NotificationTask` (VOIP_NOTIFY_CHECK_S); a
kind nobody switched on costs one small query.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.rules import channel_vars as cv
from controller.services import mail_i18n, mailer
from controller.services.conference.invites import ENGLISH, Language
from controller.services.voicemail import service as voicemail
from controller.services.voicemail.mwi import queue_mwi
from controller.settings import Settings
from db import calls
from db.models import JobCursor, LowBalanceWatch, NotificationSent, VoicemailMessage
from db.session import make_engine, session_factory, transaction

log = logging.getLogger("controller.services.notifications")

Factory = sessionmaker[Session]

MISSED_CURSOR = "missed_call"
MISSED_SETTLE_S = 20  # a CDR's calls are judged this long after it ended
MISSED_BATCH = 2000  # CDRs read per round at most
# a missed call older than this (the mail server or the controller was down) is not emailed: it
# is on the Missed Calls page, and a flood of stale emails after an outage helps nobody
MISSED_EMAIL_WITHIN = dt.timedelta(hours=6)
MISSED_GAP_WAIT_S = 300  # the cursor passes a hole in the CDR ids once the CDR after it is this old
VOICEMAIL_RETRY_AFTER_S = 300  # the deposit's own attempt (and its retries) are over by then
VOICEMAIL_RETRY_WITHIN = dt.timedelta(days=1)
WEEKLY_SEND_HOUR = 8  # Monday 08:00 local: the previous week's summary
WEEKLY_SEND_WITHIN = dt.timedelta(days=3)

SWITCHES = (
    "missed_call",
    "voicemail_email",
    "voicemail_attach",
    "voicemail_delete_after",
    "low_balance",
    "weekly_summary",
)
DEFAULTS = {
    "missed_call": False,
    "voicemail_email": True,
    "voicemail_attach": True,
    "voicemail_delete_after": False,
    "low_balance": False,
    "weekly_summary": False,
}


@dataclass(frozen=True)
class Prefs:
    missed_call: bool = False
    voicemail_email: bool = True
    voicemail_attach: bool = True
    voicemail_delete_after: bool = False
    low_balance: bool = False
    weekly_summary: bool = False
    time_zone: str = "UTC"
    language: str = "en"  # accounts.language: the emails' language (mail_i18n)

    @property
    def delete_after_email(self) -> bool:
        """Delete a message once emailed: only when its recording went with the email."""
        return self.voicemail_delete_after and self.voicemail_attach


def prefs(session: Session, account_id: int) -> Prefs:
    """The account's switches (the defaults when it has no row) and its time zone."""
    row = session.execute(
        text("""
        SELECT a.time_zone, a.language, n.* FROM accounts a
        LEFT JOIN notification_settings n ON n.account_id = a.id WHERE a.id = :a"""),
        {"a": account_id},
    ).first()
    if row is None:
        return Prefs()
    values = row._mapping
    switches = {
        name: DEFAULTS[name] if values["account_id"] is None else bool(values[name]) for name in SWITCHES
    }
    return Prefs(
        **switches,
        time_zone=values["time_zone"] or "UTC",
        language=mail_i18n.code_of(values["language"]),
    )


# ----- formatting (in the account's language: controller/services/mail_i18n.py)
zone = mail_i18n.zone


def local_time(moment: dt.datetime, time_zone: str, lang: Language = ENGLISH) -> str:
    """ "2026-12-05 10:15:03 EST (America/New_York)": the time with its zone, as the panel says."""
    return mail_i18n.local_time(moment, time_zone, lang)


CALLER_NAME_MAX = 60  # a caller ID name is the caller's to choose: one line, this long at most
CALLER_NUMBER_MAX = 32


def one_line(value: str | None, limit: int) -> str:
    """PSTN-supplied text (a caller ID name or number) made safe for a Subject and a body line:
    control and line-separator characters (CR, LF, NEL, U+2028...) become spaces, runs of
    spaces one, and at most `limit` characters ("..." ending a cut one)."""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in (value or "")
    )
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3].rstrip() + "..."


def caller_label(caller_name: str, caller_number: str, lang: Language = ENGLISH) -> str:
    _ = lang.gettext
    caller_name = one_line(caller_name, CALLER_NAME_MAX)
    caller_number = one_line(caller_number, CALLER_NUMBER_MAX)
    if caller_name and caller_number and caller_name != caller_number:
        return f"{caller_name} <{caller_number}>"
    return caller_number or caller_name or _("an unknown caller")


def money(amount: Decimal, lang: Language = ENGLISH) -> str:
    return mail_i18n.money(amount, lang)


def voicemail_email(
    settings: Settings,
    *,
    number: str,
    message_id: int,
    caller_name: str,
    caller_number: str,
    received_at: dt.datetime,
    seconds: float,
    time_zone: str,
    audio: bytes | None,
    language: str | None = None,
) -> tuple[str, str, list[mailer.Attachment]]:
    """A new message's email: (subject, body, attachments); `audio` None: a link, no WAV;
    written in `language` (accounts.language; English when None)."""
    lang = mail_i18n.language(language)
    _ = lang.gettext
    caller = caller_label(caller_name, caller_number, lang)
    minutes, secs = divmod(voicemail.whole_seconds(seconds), 60)  # as the panel shows it
    length = f"{minutes}:{secs:02d}"
    mailbox_url = f"{settings.panel_base_url}/voicemail/{number}/"
    subject = _("New voicemail for %(number)s from %(caller)s", number=number, caller=caller)
    if audio is not None:
        where = _("The message is attached. You can also listen to it by phone or in the control panel.")
    else:
        where = _(
            "Listen to it in your control panel: %(url)s (or by phone).",
            url=mailbox_url,
        )
    body = (
        _("You have a new voicemail message on %(number)s.", number=number)
        + "\n\n"
        + _("From: %(caller)s", caller=caller)
        + "\n"
        + _("Received: %(when)s", when=local_time(received_at, time_zone, lang))
        + "\n"
        + _("Length: %(length)s", length=length)
        + f"\n\n{where}\n"
    )
    attachments: list[mailer.Attachment] = []
    if audio is not None:
        stamp = received_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")
        attachments.append((f"voicemail-{number}-{stamp}.wav", audio, "audio/wav"))
    return subject, body, attachments


def voicemail_sent(
    session: Session, account_id: int, vn_id: int, message_id: int, sent_to: str, *, delete_after: bool
) -> bool:
    """After SMTP accepted a message's email: mark it emailed, record it, and delete it when the
    member asked (MWI updated as the panel's delete does). True when it was deleted."""
    voicemail.mark_emailed(session, message_id)
    record(session, account_id, "voicemail", str(message_id), sent_to)
    if delete_after:
        return voicemail.delete_message(session, vn_id, message_id, notify=queue_mwi)
    return False


def record(session: Session, account_id: int, kind: str, key: str, sent_to: str) -> None:
    session.execute(
        insert(NotificationSent)
        .values(account_id=account_id, kind=kind, key=key[:100], sent_to=sent_to[:254])
        .on_conflict_do_nothing(constraint="uq_notifications_sent_once")
    )


def _claim(session: Session, account_id: int, kind: str, key: str, sent_to: str) -> bool:
    """Insert the sent row first, in the transaction that sends: a second sender waits on the
    unique index and then finds it taken; a failed send rolls it back. False: sent already."""
    row = session.execute(
        insert(NotificationSent)
        .values(account_id=account_id, kind=kind, key=key[:100], sent_to=sent_to[:254])
        .on_conflict_do_nothing(constraint="uq_notifications_sent_once")
        .returning(NotificationSent.id)
    ).first()
    return row is not None


# ----- one round
@dataclass
class RoundResult:
    sent: dict[str, int] = field(default_factory=dict)  # kind -> emails sent
    failed: dict[str, int] = field(default_factory=dict)  # kind -> emails that failed
    server_down: bool = False

    def count(self, kind: str, ok: bool) -> None:
        bucket = self.sent if ok else self.failed
        bucket[kind] = bucket.get(kind, 0) + 1


class _ServerDown(Exception):
    pass


def _send(
    settings: Settings,
    result: RoundResult,
    kind: str,
    to: str,
    subject: str,
    body: str,
    attachments: list[mailer.Attachment] | None = None,
) -> bool:
    """Send one email; False on a permanent failure (that email only); _ServerDown on a
    transient one (the round stops, the next retries)."""
    try:
        if not to:
            raise mailer.BadMessage("the account has no email address")
        mailer.send_mail_blocking(settings, to, subject, body, attachments or [])
    except mailer.MailError as exc:
        result.count(kind, False)
        log.warning("notification not sent", extra={"kind": kind, "error": str(exc)[:300]})
        if not exc.permanent:
            result.server_down = True
            raise _ServerDown from exc
        return False
    result.count(kind, True)
    return True


def run_round(factory: Factory, settings: Settings, now: dt.datetime | None = None) -> RoundResult:
    """Every kind once: missed calls, voicemail retries, low balances, weekly summaries."""
    now = now or dt.datetime.now(dt.UTC)
    result = RoundResult()
    for step in (missed_calls, voicemail_retries, low_balances, weekly_summaries):
        try:
            step(factory, settings, now, result)
        except _ServerDown:
            break
    if result.sent or result.failed:
        log.info("notifications round", extra={"sent": result.sent, "failed": result.failed})
    return result


# ----- missed calls
def missed_calls(factory: Factory, settings: Settings, now: dt.datetime, result: RoundResult) -> None:
    with transaction(factory) as s:
        cursor = s.get(JobCursor, MISSED_CURSOR, with_for_update=True)
        if cursor is None:  # the first round starts from now: no email for the past
            top = s.scalar(text("SELECT coalesce(max(id), 0) FROM cdr")) or 0
            s.add(JobCursor(name=MISSED_CURSOR, last_id=top))
            return
        if not s.scalar(text("SELECT EXISTS (SELECT 1 FROM notification_settings WHERE missed_call)")):
            top = s.scalar(text("SELECT coalesce(max(id), 0) FROM cdr")) or 0
            cursor.last_id = max(cursor.last_id, top)
            return
        cdrs = s.execute(
            # a CDR without an end (written by hand, or a broken import) is judged by its start,
            # or at once: it must not hold every later missed call for ever
            text("""
            SELECT id, coalesce("end", start) AS end FROM cdr
             WHERE id > :lo ORDER BY id LIMIT :n"""),
            {"lo": cursor.last_id, "n": MISSED_BATCH},
        ).all()
        settled = now - dt.timedelta(seconds=MISSED_SETTLE_S)
        gap_settled = now - dt.timedelta(seconds=MISSED_GAP_WAIT_S)
        hi = cursor.last_id
        for cdr_id, end in cdrs:
            end = end or settled  # neither: at once
            if end > settled:
                break
            # ids are handed out in order but committed in any order: a missing id may be a
            # CDR still being written (the cursor must not pass it) or a rolled back insert
            # (a hole for ever); past a hole, wait until the CDR after it is that old
            if cdr_id != hi + 1 and end > gap_settled:
                break
            hi = cdr_id
        if hi == cursor.last_id:
            return
        lo = cursor.last_id
        found = s.execute(
            text(f"""
            SELECT DISTINCT m.id, m.vnum, m.linkedid, m.start, a.id AS account_id, a.email,
                   a.time_zone, a.language
              FROM cdr c
              -- the call's sides as voip_call_sides (migration 0012) made them: the CDR's own
              -- number, and the member dialled on-net; (vnum, linkedid) is member_calls' key; a
              -- call in the second the number joined the account is its (CDR times are whole
              -- seconds), as Call History says
              JOIN member_calls m
                ON m.vnum IN (c.vnum, c.dialed)
               AND m.linkedid = coalesce(nullif(c.linkedid, ''), nullif(c.uniqueid, ''), 'cdr-' || c.id)
              JOIN virtual_numbers vn ON vn.number = m.vnum
              JOIN accounts a ON a.id = vn.account_id AND a.status = 'active' AND a.email <> ''
              JOIN notification_settings ns ON ns.account_id = a.id AND ns.missed_call
             WHERE c.id > :lo AND c.id <= :hi AND {calls.missed("m")}
               AND m.start >= date_trunc('second', vn.created_at) AND m.start >= :oldest
               AND NOT {_screened_call("m")}
             ORDER BY m.id"""),
            {"lo": lo, "hi": hi, "oldest": now - MISSED_EMAIL_WITHIN},
        ).all()
    # each call in its own transaction, the cursor moved on once all are done (or skipped for
    # good); a transient failure leaves the cursor where it was, and the sent rows keep the
    # calls already emailed from going twice
    for call in found:
        _missed_call(factory, settings, call, result)
    with transaction(factory) as s:
        s.execute(
            update(JobCursor)
            .where(JobCursor.name == MISSED_CURSOR, JobCursor.last_id < hi)
            .values(last_id=hi, updated_at=text("now()"))
        )


def _screened_call(alias: str) -> str:
    """SQL: the member_calls row `alias` is a call the number's screening refused (a blocked
    caller, an anonymous one refused: migration 0029's marker, the refusal's extension in
    context `refused`). Missed Calls lists it; it is never emailed (a nuisance caller the member
    blocked must not email them at each attempt)."""
    refusals = ", ".join(f"'{r}'" for r in (cv.REFUSE_CALLER_BLOCKED, cv.REFUSE_ANONYMOUS))
    return f"""EXISTS (
        SELECT 1 FROM cdr r
         WHERE r.linkedid = {alias}.linkedid AND r.vnum = {alias}.vnum
           AND r.dcontext = '{cv.CTX_REFUSED}' AND r.dst IN ({refusals}))"""


def _missed_call(factory: Factory, settings: Settings, call: Any, result: RoundResult) -> None:
    with transaction(factory) as s:
        # still missed, still switched on, to the address of now (the member may have changed
        # either since the round found the call)
        still = s.execute(
            text(f"""
            SELECT a.email, a.language FROM member_calls m
              JOIN accounts a ON a.id = :a AND a.status = 'active'
              JOIN notification_settings ns ON ns.account_id = a.id AND ns.missed_call
             WHERE m.id = :id AND {calls.missed("m")} AND NOT {_screened_call("m")}"""),
            {"id": call.id, "a": call.account_id},
        ).first()
        if still is None or not _claim(s, call.account_id, "missed_call", f"call:{call.id}", still.email):
            return
        first = s.execute(
            text("""
            SELECT clid, src, dst FROM cdr WHERE linkedid = :l ORDER BY start, id LIMIT 1"""),
            {"l": call.linkedid},
        ).first()
        lang = mail_i18n.language(still.language)
        _ = lang.gettext
        caller_number = (first.src if first else "") or ""
        caller_name = _clid_name(first.clid if first else "")
        caller = caller_label(caller_name, caller_number, lang)
        # the number the caller dialled: a DID of the member's, or the virtual number itself
        dialled = (first.dst if first else "") or ""
        called = dialled if dialled.isdigit() and len(dialled) >= 4 else call.vnum
        when = local_time(call.start, call.time_zone, lang)
        subject = _("Missed call on %(number)s from %(caller)s", number=call.vnum, caller=caller)
        body = (
            _("You missed a call on %(number)s.", number=call.vnum)
            + "\n\n"
            + _("From: %(caller)s", caller=caller)
            + "\n"
            + _("Number called: %(number)s", number=called)
            + "\n"
            + _("When: %(when)s", when=when)
            + "\n\n"
            + _(
                "Your missed calls are in your control panel: %(url)s",
                url=settings.panel_base_url + "/missed-calls/",
            )
            + "\n"
        )
        if not _send(settings, result, "missed_call", still.email, subject, body):
            s.rollback()


def _clid_name(clid: str | None) -> str:
    """The name of a CDR clid such as '"Alice" <13125550100>'."""
    clid = (clid or "").strip()
    if "<" in clid:
        return clid.split("<", 1)[0].strip().strip('"').strip()
    return ""


# ----- voicemail: the deposit's failed emails, again
def voicemail_retries(factory: Factory, settings: Settings, now: dt.datetime, result: RoundResult) -> None:
    with transaction(factory) as s:
        ids = s.scalars(
            text("""
            SELECT m.id FROM voicemail_messages m
              JOIN virtual_numbers vn ON vn.id = m.virtual_number_id
              JOIN accounts a ON a.id = vn.account_id
              LEFT JOIN notification_settings ns ON ns.account_id = a.id
             WHERE m.emailed_at IS NULL AND m.received_at >= :since AND m.received_at < :before
               AND coalesce(ns.voicemail_email, true) AND a.email <> ''
             ORDER BY m.id LIMIT 500"""),
            {
                "since": now - VOICEMAIL_RETRY_WITHIN,
                "before": now - dt.timedelta(seconds=VOICEMAIL_RETRY_AFTER_S),
            },
        ).all()
    for message_id in ids:
        with transaction(factory) as s:
            msg = s.scalar(
                select(VoicemailMessage)
                .where(VoicemailMessage.id == message_id, VoicemailMessage.emailed_at.is_(None))
                .with_for_update(skip_locked=True)
            )
            if msg is None:
                continue
            box = s.execute(
                text("""
                SELECT vn.id, vn.number, a.id AS account_id, a.email FROM virtual_numbers vn
                  JOIN accounts a ON a.id = vn.account_id WHERE vn.id = :v"""),
                {"v": msg.virtual_number_id},
            ).one()
            p = prefs(s, box.account_id)
            subject, body, attachments = voicemail_email(
                settings,
                number=box.number,
                message_id=msg.id,
                caller_name=msg.caller_name,
                caller_number=msg.caller_number,
                received_at=msg.received_at,
                seconds=msg.duration_seconds,
                time_zone=p.time_zone,
                audio=bytes(msg.audio) if p.voicemail_attach else None,
                language=p.language,
            )
            if _send(settings, result, "voicemail", box.email, subject, body, attachments):
                voicemail_sent(
                    s, box.account_id, box.id, msg.id, box.email, delete_after=p.delete_after_email
                )


# ----- low balance
def low_balances(factory: Factory, settings: Settings, now: dt.datetime, result: RoundResult) -> None:
    with transaction(factory) as s:
        rows = s.execute(
            text("""
            SELECT a.id, a.email, a.low_balance_threshold AS threshold,
                   (SELECT coalesce(sum(cl.remaining), 0) FROM credit_lots cl
                     WHERE cl.account_id = a.id) AS balance,
                   coalesce(w.below, false) AS below, coalesce(w.crossings, 0) AS crossings
              FROM notification_settings ns
              JOIN accounts a ON a.id = ns.account_id
              LEFT JOIN low_balance_watch w ON w.account_id = a.id
             WHERE ns.low_balance AND a.low_balance_threshold IS NOT NULL AND a.status = 'active'
               AND a.email <> ''
             ORDER BY a.id"""),
        ).all()
    for candidate in rows:
        if (Decimal(candidate.balance) < Decimal(candidate.threshold)) == candidate.below:
            continue
        with transaction(factory) as s:
            # judged again under the watch row's lock: another controller's round, a top-up or
            # a change of the switch, threshold or address since the look above
            s.execute(insert(LowBalanceWatch).values(account_id=candidate.id).on_conflict_do_nothing())
            row = s.execute(
                text("""
                SELECT a.id, a.email, a.low_balance_threshold AS threshold,
                       (SELECT coalesce(sum(cl.remaining), 0) FROM credit_lots cl
                         WHERE cl.account_id = a.id) AS balance,
                       w.below, w.crossings, coalesce(ns.low_balance, false) AS switched_on,
                       a.language
                  FROM low_balance_watch w JOIN accounts a ON a.id = w.account_id
                  LEFT JOIN notification_settings ns ON ns.account_id = a.id
                 WHERE w.account_id = :a AND a.status = 'active' FOR UPDATE OF w"""),
                {"a": candidate.id},
            ).first()
            if row is None or not row.switched_on or row.threshold is None:
                continue
            is_below = Decimal(row.balance) < Decimal(row.threshold)
            if is_below == row.below:
                continue
            crossings = row.crossings
            if is_below and row.email:
                crossings += 1
                claim = s.begin_nested()  # a refused address: no email, the crossing still seen
                if not _claim(s, row.id, "low_balance", f"crossing:{crossings}", row.email):
                    claim.commit()  # sent already (a round that died before updating the watch)
                else:
                    lang = mail_i18n.language(row.language)
                    _ = lang.gettext
                    balance = money(Decimal(row.balance), lang)
                    subject = _(
                        "%(operator)s: your balance is low (%(balance)s)",
                        operator=settings.operator_name,
                        balance=balance,
                    )
                    body = (
                        _(
                            "Your call credit balance is %(balance)s, under the %(threshold)s you "
                            "chose to be told about.",
                            balance=balance,
                            threshold=money(Decimal(row.threshold), lang),
                        )
                        + "\n\n"
                        + _(
                            "Recharge in your control panel: %(url)s",
                            url=settings.panel_base_url + "/recharge/",
                        )
                        + "\n\n"
                        + _(
                            "You get this email once each time the balance goes under that amount; "
                            "change it or turn it off on the Notifications page: %(url)s",
                            url=settings.panel_base_url + "/notifications/",
                        )
                        + "\n"
                    )
                    if _send(settings, result, "low_balance", row.email, subject, body):
                        claim.commit()
                    else:
                        claim.rollback()
                        crossings -= 1
            stmt = insert(LowBalanceWatch).values(account_id=row.id, below=is_below, crossings=crossings)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=[LowBalanceWatch.account_id],
                    set_={
                        "below": stmt.excluded.below,
                        "crossings": stmt.excluded.crossings,
                        "updated_at": now,
                    },
                )
            )


# ----- weekly summary
# (account, week, address) whose summary the mail server refused for good, in this process: not
# tried again at every round of the days it is due (a new address is tried at once)
_WEEKLY_REFUSED: set[tuple[int, str, str]] = set()


def week_due(now: dt.datetime, time_zone: str) -> tuple[str, dt.datetime, dt.datetime] | None:
    """(key, start, end) of the ISO week whose summary is due now in this zone, start and end
    as aware local midnights: from Monday WEEKLY_SEND_HOUR:00 local for WEEKLY_SEND_WITHIN (a
    round missed then, or a server down, still sends it; a member who switches the summary on
    mid-week is not sent an old week). None outside that window."""
    tz = zone(time_zone)
    local = now.astimezone(tz)
    monday = local.date() - dt.timedelta(days=local.weekday())
    send_at = dt.datetime.combine(monday, dt.time(WEEKLY_SEND_HOUR), tz)
    if not send_at <= local < send_at + WEEKLY_SEND_WITHIN:
        return None
    previous = monday - dt.timedelta(days=7)
    year, week, _ = previous.isocalendar()
    start = dt.datetime.combine(previous, dt.time(0), tz)
    end = dt.datetime.combine(monday, dt.time(0), tz)
    return f"{year}-W{week:02d}", start, end


@dataclass(frozen=True)
class WeekFigures:
    calls: int
    seconds: int
    spend: Decimal
    voicemails: int
    missed: int

    @property
    def minutes(self) -> int:
        return math.ceil(self.seconds / 60)


def week_figures(session: Session, account_id: int, start: dt.datetime, end: dt.datetime) -> WeekFigures:
    params = {"a": account_id, "lo": start, "hi": end}
    calls_row = session.execute(
        text(f"""
        SELECT count(*) AS calls, coalesce(sum(m.seconds), 0) AS seconds,
               count(*) FILTER (WHERE {calls.missed("m")}) AS missed
          FROM virtual_numbers vn
          JOIN member_calls m ON m.vnum = vn.number AND m.start >= greatest(:lo, date_trunc('second', vn.created_at))
                             AND m.start < :hi
         WHERE vn.account_id = :a"""),
        params,
    ).one()
    spend = session.scalar(
        text("""
        SELECT coalesce(sum(ch.cost), 0) FROM cdr_charges ch JOIN cdr c ON c.id = ch.cdr_id
         WHERE ch.account_id = :a AND ch.rated_at >= :lo AND c.start >= :lo AND c.start < :hi"""),
        params,
    )
    voicemails = session.scalar(
        text("""
        SELECT count(*) FROM voicemail_messages v JOIN virtual_numbers vn ON vn.id = v.virtual_number_id
         WHERE vn.account_id = :a AND v.received_at >= :lo AND v.received_at < :hi"""),
        params,
    )
    return WeekFigures(
        int(calls_row.calls),
        int(calls_row.seconds),
        Decimal(spend or 0),
        int(voicemails or 0),
        int(calls_row.missed),
    )


def weekly_summaries(factory: Factory, settings: Settings, now: dt.datetime, result: RoundResult) -> None:
    with transaction(factory) as s:
        rows = s.execute(
            text("""
            SELECT a.id, a.email, a.time_zone, a.language,
                   (SELECT max(n.key) FROM notifications_sent n
                     WHERE n.account_id = a.id AND n.kind = 'weekly_summary') AS last_key
              FROM notification_settings ns JOIN accounts a ON a.id = ns.account_id
             WHERE ns.weekly_summary AND a.status = 'active' AND a.email <> ''
             ORDER BY a.id"""),
        ).all()
    for row in rows:
        due = week_due(now, row.time_zone)
        if due is None or (row.last_key is not None and row.last_key >= due[0]):
            continue
        key, start, end = due
        with transaction(factory) as s:
            email = s.scalar(  # still switched on, to the address of now
                text("""
                SELECT a.email FROM accounts a
                  JOIN notification_settings ns ON ns.account_id = a.id AND ns.weekly_summary
                 WHERE a.id = :a AND a.status = 'active'"""),
                {"a": row.id},
            )
            refusal = (row.id, key, email)
            if (
                email is None
                or refusal in _WEEKLY_REFUSED
                or not _claim(s, row.id, "weekly_summary", key, email)
            ):
                continue
            f = week_figures(s, row.id, start, end)
            subject, body = _weekly_text(settings, key, start, end, row.time_zone, f, row.language)
            if not _send(settings, result, "weekly_summary", email, subject, body):
                s.rollback()
                _WEEKLY_REFUSED.add(refusal)


def _weekly_text(
    settings: Settings,
    key: str,
    start: dt.datetime,
    end: dt.datetime,
    time_zone: str,
    f: WeekFigures,
    language: str | None,
) -> tuple[str, str]:
    """The weekly summary's (subject, body) in the account's language."""
    lang = mail_i18n.language(language)
    _ = lang.gettext
    last_day = end - dt.timedelta(days=1)
    subject = _(
        "%(operator)s: your week %(week)s (%(first)s to %(last)s)",
        operator=settings.operator_name,
        week=key,
        first=mail_i18n.short_day(start, lang),
        last=mail_i18n.short_day(last_day, lang),
    )
    n = mail_i18n.number
    lines = (  # label, value: the values in one column after the labels (the longest one's one further)
        (_("Calls:"), n(f.calls, lang)),
        (_("Minutes:"), n(f.minutes, lang)),
        (_("Spend:"), money(f.spend, lang)),
        (_("Voicemails:"), n(f.voicemails, lang)),
        (_("Missed calls:"), n(f.missed, lang)),
    )
    width = max(len(label) for label, _value in lines) - 1
    body = (
        _(
            "Your week %(week)s, %(first)s to %(last)s (%(zone)s):",
            week=key,
            first=mail_i18n.local_date(start, lang),
            last=mail_i18n.local_date(last_day, lang),
            zone=zone(time_zone).key,
        )
        + "\n\n"
        + "".join(f"{label.ljust(width)} {value}\n" for label, value in lines)
        + "\n"
        + _("Your call history: %(url)s", url=settings.panel_base_url + "/call-history/")
        + "\n"
    )
    return subject, body


# ----- the periodic task
class NotificationTask:
    """The controller's notifications round every VOIP_NOTIFY_CHECK_S seconds (0: off), in a
    worker thread on its own small pool (SMTP must not hold the event loop that answers calls)."""

    def __init__(self, settings: Settings, interval: float | None = None, engine: Engine | None = None):
        self.settings = settings
        self.interval = float(settings.notify_check_s if interval is None else interval)
        self._engine = engine
        self._own_engine = engine is None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self.rounds = 0

    def start(self) -> None:
        if self.interval <= 0:
            return
        if self._task is None or self._task.done():
            if self._engine is None:
                self._engine = make_engine(self.settings, pool_size=1, max_overflow=1)
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="notifications")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 30)
            except TimeoutError:
                self._task.cancel()
            self._task = None
        if self._own_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def round(self, now: dt.datetime | None = None) -> RoundResult:
        if self._engine is None:
            self._engine = make_engine(self.settings, pool_size=1, max_overflow=1)
        factory = session_factory(self._engine)
        result = await asyncio.to_thread(run_round, factory, self.settings, now)
        self.rounds += 1
        return result

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.round()
            except Exception as exc:
                log.warning("notifications round failed", extra={"error": repr(exc)[:300]})
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass
