"""Issue 16: why a phone does not register, as Asterisk said it (registration_events).

The controller's AMI link receives Asterisk's security events for SIP (manager.conf sends only
these, besides the few the calls need): a digest that did not match (ChallengeResponseFailed,
InvalidPassword), an account name no endpoint has (InvalidAccountID), an address the number's
allow-list refuses (FailedACL). Each becomes a registration_events row (`bad_password`,
`unknown_user`, `address_refused`) with the account name the phone used, our virtual number when
it is one, and the address it came from. Contacts made and removed are written by a trigger on
ps_contacts (migration 0030): realtime AORs send no ContactStatus.

Cheap: the AMI callback only appends a tuple to a bounded queue; a task writes the queue in one
INSERT ... SELECT FROM unnest(...) per `flush_s` (the virtual number resolved in the same
statement), so a guessing storm costs one statement a second, never a round trip per event.
A phone retrying its REGISTER makes Asterisk report the same refusal for each request of the
same dialog (same SessionID, the Call-ID): one row per (dialog, kind) and SEEN_S (a phone
that keeps retrying for hours has its latest refusal dated, not only its first); and at most
PER_ADDRESS_MINUTE rows a minute come from one address (a scanner's thousands of names are
fail2ban's business, not the dashboard's). Rows older than `keep_days` are pruned every
`prune_s`, those of names that are no number of ours after UNOWNED_KEEP_DAYS.

fail2ban reads Asterisk's security LOG (deploy/fail2ban), not these events: nothing here
changes that.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict, deque
from typing import Any

from controller.services.ami import AMILink
from db.hotpath import HotDB

log = logging.getLogger("controller.services.registrations")

# Asterisk's security event -> our vocabulary (db.models.REGISTRATION_EVENTS)
SECURITY_EVENTS = {
    "ChallengeResponseFailed": "bad_password",
    "InvalidPassword": "bad_password",
    "InvalidAccountID": "unknown_user",
    "FailedACL": "address_refused",
}
UNKNOWN_ACCOUNT = "<unknown>"  # ChallengeResponseFailed after InvalidAccountID names no account
QUEUE_MAX = 20_000  # events waiting for the next flush; the oldest go first past that
SEEN_MAX = 4096  # (dialog, kind) pairs remembered to write a retried refusal once
SEEN_S = 60.0  # ... per this many seconds
# refusals written per source address and minute: a phone with a wrong password retries a few
# times a minute; a scanner trying thousands of names is recorded only this much (fail2ban,
# which reads the security log, bans it)
PER_ADDRESS_MINUTE = 30
UNOWNED_KEEP_DAYS = 7  # refusals of names that are no number of ours ("did you mean")

# An account name that is no number of ours is kept only when it is one misspelt (with a +, 011,
# sip:, @domain, a leading 1 missing or one too many: webpanel/home/diagnosis.near_names), the
# only use the dashboard has for it; a scanner's random names from many addresses write nothing.
INSERT = r"""
INSERT INTO registration_events (at, number, virtual_number_id, event, remote_addr, user_agent, detail)
SELECT t.at, t.number, vn.id, t.event, t.remote_addr, '', t.detail
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[])
     AS t(at, number, event, remote_addr, detail)
LEFT JOIN virtual_numbers vn ON vn.number = t.number
CROSS JOIN LATERAL (SELECT regexp_replace(regexp_replace(t.number, '^sip:|@.*$', '', 'g'),
                                          '^(\+|011)', '') AS digits) n
WHERE vn.id IS NOT NULL
   OR EXISTS (SELECT 1 FROM virtual_numbers near
               WHERE near.number IN (n.digits, '1' || n.digits, substr(n.digits, 2)))
"""
PRUNE = (
    "DELETE FROM registration_events WHERE at < now() - make_interval(days => $1)"
    " OR (virtual_number_id IS NULL AND at < now() - make_interval(days => $2))"
)

Row = tuple[dt.datetime, str, str, str, str]


def address(remote: str) -> str:
    """Asterisk's `IPV4/UDP/203.0.113.5/5060` as `203.0.113.5:5060 (UDP)`; anything else as is."""
    parts = remote.split("/")
    if len(parts) == 4 and parts[0].upper() in ("IPV4", "IPV6"):
        host = f"[{parts[2]}]" if ":" in parts[2] else parts[2]
        return f"{host}:{parts[3]} ({parts[1].upper()})"[:64]
    return remote[:64]


def event_time(value: str) -> dt.datetime:
    """Asterisk's EventTV (`2026-12-05T16:01:08.115+0000`); now when it is missing or odd."""
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except (TypeError, ValueError):
        return dt.datetime.now(dt.UTC)


def to_row(event: Any) -> Row | None:
    """A security event as a registration_events row; None for one we do not record."""
    kind = SECURITY_EVENTS.get(event.get("Event", ""))
    if kind is None or (event.get("Service") or "PJSIP") != "PJSIP":
        return None
    account = (event.get("AccountID") or "").strip()
    if not account or account == UNKNOWN_ACCOUNT:
        return None
    detail = event.get("ACLName") or ""
    return (
        event_time(event.get("EventTV", "")),
        account[:64],
        kind,
        address(event.get("RemoteAddress") or ""),
        detail[:200],
    )


class RegistrationRecorder:
    def __init__(
        self, ami: AMILink, pg: HotDB, *, flush_s: float = 1.0, keep_days: int = 30, prune_s: float = 3600
    ):
        self.ami, self.pg = ami, pg
        self.flush_s, self.keep_days, self.prune_s = flush_s, keep_days, prune_s
        self.queue: deque[Row] = deque(maxlen=QUEUE_MAX)
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # -> monotonic time written
        self._per_address: dict[str, int] = {}
        self._minute = 0
        self.dropped = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def start(self) -> None:
        for name in SECURITY_EVENTS:
            self.ami.on(name, self._on_event)
        self._task = asyncio.create_task(self._run(), name="registration-events")

    async def stop(self) -> None:
        for name in SECURITY_EVENTS:
            try:
                self.ami.manager.callbacks[name].remove(self._on_event)
            except (KeyError, ValueError):
                pass
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()

    def _on_event(self, manager: Any, event: Any) -> None:
        row = to_row(event)
        if row is None:
            return
        key = (str(event.get("SessionID") or ""), f"{row[2]}:{row[1]}")
        now = time.monotonic()
        if key[0]:
            written = self._seen.get(key)
            if written is not None and now - written < SEEN_S:
                return
            self._seen[key] = now
            self._seen.move_to_end(key)
            if len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._per_address = minute, {}
        host = row[3].rsplit(":", 1)[0]
        count = self._per_address.get(host, 0)
        if count >= PER_ADDRESS_MINUTE:
            self.dropped += 1
            return
        self._per_address[host] = count + 1
        self.queue.append(row)

    async def flush(self) -> int:
        """Write what is queued (one statement); the number of rows written (a name that is no
        number of ours, nor one misspelt, is not)."""
        if not self.queue:
            return 0
        rows = list(self.queue)
        self.queue.clear()
        columns = list(zip(*rows, strict=True))
        try:
            async with self.pg.connection() as conn:
                status = await conn.execute(INSERT, *columns)  # "INSERT 0 <rows>"
        except Exception:
            log.warning("registration events not written", exc_info=True, extra={"rows": len(rows)})
            return 0
        written = int(str(status).rsplit(" ", 1)[-1]) if str(status).startswith("INSERT") else len(rows)
        self.written += written
        return written

    async def prune(self) -> None:
        try:
            async with self.pg.connection() as conn:
                await conn.execute(PRUNE, self.keep_days, min(self.keep_days, UNOWNED_KEEP_DAYS))
        except Exception:
            log.warning("registration events not pruned", exc_info=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + 60
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.flush_s)
            except TimeoutError:
                pass
            await self.flush()
            if loop.time() >= next_prune:
                await self.prune()
                next_prune = loop.time() + self.prune_s
        await self.flush()
