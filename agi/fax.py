"""Route `fax`: receive a fax on a Fax-to-Email DID (ReceiveFAX on spandsp), store it, email it.

`receive_fax` is the flow itself, also called by the inbound route for a DID connected to
Fax-to-Email. The route `fax` (argument 1: the DID's digits) looks the DID up first; it serves
the test-suite and operators who point a trunk context straight at it.

A fax comes as T.38 or as plain audio (G.711), which is how most of the PSTN sends one. On a
channel that can do T.38 (the trunk's endpoint), ReceiveFAX asks the sender to switch and, by
default, gives up when the sender refuses ("Audio FAX not allowed"): we let it go on in audio.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from pathlib import Path, PurePosixPath

from sqlalchemy import select

from agi.channel import Channel
from agi.errors import AGIError, AGIHangup, CallRefused
from controller.rules import channel_vars as cv
from controller.services.deps import Deps
from controller.services.fax import StoredFax, outcome_from_variables, store_and_email
from db.models import Did

log = logging.getLogger("agi.fax")

_DID = re.compile(r"^[0-9]{4,15}$")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
OUTCOME_VARIABLES = (
    cv.VAR_FAX_STATUS,
    cv.VAR_FAX_ERROR,
    cv.VAR_FAX_STATUS_TEXT,
    cv.VAR_FAX_PAGES,
    cv.VAR_FAX_REMOTE_STATION,
    cv.VAR_FAX_RESOLUTION,
    cv.VAR_FAX_BITRATE,
    cv.VAR_FAX_MODE,
)
# ReceiveFAX options: f = when the sender refuses T.38, receive the fax as audio
RECEIVE_OPTIONS = "f"


def fax_file_name(did_number: str, uniqueid: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")
    return f"fax-{did_number}-{stamp}-{_SAFE.sub('_', uniqueid) or 'x'}.tif"


async def _read_outcome_variables(channel: Channel) -> dict[str, str | None]:
    """The fax stack's verdict. It survives a hangup: res_agi still answers GET VARIABLE on a
    dead channel, so a sender that drops mid-page still leaves FAXSTATUS/FAXERROR to read."""
    values: dict[str, str | None] = {}
    for name in OUTCOME_VARIABLES:
        try:
            values[name] = await channel.get_variable_after_hangup(name)
        except AGIHangup:
            break  # the socket itself is gone: what we have is all we get
        except AGIError as exc:
            log.warning("fax variable unreadable", extra={"variable": name, "error": str(exc)})
            values[name] = None
    return values


async def receive_fax(channel: Channel, deps: Deps, did: Did) -> StoredFax:
    """Answer, receive the fax into the spool, store it (received or failed) and email it to
    the DID's address. Whatever happens on the line, a row is stored: never lost silently."""
    if did.connection != "fax_to_email" or did.account_id is None:
        raise CallRefused("not_in_service", f"DID {did.number} is not connected to Fax to Email")
    settings, db = deps.settings, deps.db
    did_number, account_id, did_id, email = did.number, did.account_id, did.id, did.fax_email
    if not _DID.match(did_number):
        raise ValueError(f"bad DID {did_number!r}")
    name = fax_file_name(did_number, channel.uniqueid)
    asterisk_path = str(PurePosixPath(settings.fax_dir) / name)  # where Asterisk writes it
    local_path = Path(settings.fax_local_dir) / name  # where we read it
    if any(c in asterisk_path for c in ',|&"\\'):
        raise ValueError(f"fax dir unusable as an application argument: {settings.fax_dir!r}")
    log.info(
        "fax reception starting",
        extra={"did": did_number, "uniqueid": channel.uniqueid, "file": asterisk_path},
    )
    aborted = ""
    try:
        await channel.answer()
        # the DID as our CSI; and once the fax route is done the call is over, whatever happened
        # on the line (the dialplan would otherwise announce a refusal to a fax machine)
        await channel.set_many([(cv.FAX_LOCAL_STATION_ID, did_number), (cv.VAR_DECISION, cv.DECISION_DONE)])
        await channel.exec("ReceiveFAX", asterisk_path, RECEIVE_OPTIONS, timeout=settings.fax_timeout)
    except AGIHangup:
        pass  # ReceiveFAX answers -1 when the sender drops: its verdict is still readable
    except AGIError as exc:  # no answer within fax_timeout, or garbage: the verdict is unknowable
        aborted = f"fax reception aborted: {exc}"
    values = {} if aborted else await _read_outcome_variables(channel)
    outcome = outcome_from_variables(values, caller_number=channel.callerid_num)
    if aborted:
        outcome = dataclasses.replace(outcome, error=aborted[:255])
    if not channel.hung_up:
        try:
            await channel.hangup()  # free the line before the mail server is talked to
        except AGIError:
            pass
    return await store_and_email(
        db,
        settings,
        account_id=account_id,
        did_id=did_id,
        did_number=did_number,
        email=email,
        outcome=outcome,
        tiff_path=local_path,
    )


async def fax(channel: Channel, deps: Deps) -> None:
    """AGI(agi://controller/fax,<DID digits>): receive a fax for that Fax-to-Email DID."""
    args = channel.args()
    did_number = args[0].strip() if args else ""
    if not _DID.match(did_number):
        raise CallRefused("invalid_number", f"fax route needs the DID digits, got {did_number[:20]!r}")
    async with deps.db() as session:
        did = await session.scalar(select(Did).where(Did.number == did_number))
    if did is None:
        raise CallRefused("not_in_service", f"DID {did_number} is not connected to Fax to Email")
    await receive_fax(channel, deps, did)
