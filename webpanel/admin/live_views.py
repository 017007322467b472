"""Operator admin: Live calls (issue 15). The channels up now, read from Asterisk over one
short AMI session per page view (CoreShowChannels, bounded by AMI_TIMEOUT: a dead Asterisk is
said so on the page, the page never hangs on it), each with the account it belongs to, its
direction, caller and callee, duration and state, and a hang-up button (AMI Hangup, audited
with the operator and the channel).

Which account a channel is: a member's device is a PJSIP endpoint named by its virtual number
(ps_endpoints); any other channel of the call carries the member's account id as its
accountcode (the endpoint's accountcode, which Asterisk passes to the channels it dials); a
call from the PSTN is the account of the DID or number it called (its extension); failing
those, the account another channel of the same call (linkedid) was found to have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from controller.rules import channel_vars as cv
from controller.services.ami import AMIError, AMISession
from controller.settings import Settings
from db.audit import audit
from db.models import Account, Did, VirtualNumber
from webpanel.admin.blueprint import bp, remote, settings
from webpanel.admin.forms import ActionForm
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l

AMI_TIMEOUT = 3.0  # the page must not hang on a dead Asterisk
# an Asterisk channel name as CoreShowChannels gives it (PJSIP/1700...-0000002a, Local/...;2)
_CHANNEL = re.compile(r"[A-Za-z0-9/@;._+:#*-]{1,128}", re.ASCII)
_DIGITS = re.compile(r"\+?[0-9]{3,20}", re.ASCII)
# the first number of a Dial's first target (Local/12125550100@sim-pstn/n, PJSIP/1700...@x)
_DIAL_TARGET = re.compile(r"^(?:Local|PJSIP)/\+?([0-9]{3,20})(?:[@/&,]|$)", re.ASCII)

OUTBOUND, INBOUND, CARRIER, MEMBER_LEG, INTERNAL = "outbound", "inbound", "carrier", "member", "internal"
DIRECTIONS = {
    OUTBOUND: _l("Outbound from a member"),
    INBOUND: _l("Inbound from the PSTN"),
    CARRIER: _l("Carrier leg"),
    MEMBER_LEG: _l("To a member's device"),
    INTERNAL: _l("Internal"),
}
# the contexts a member's own device dials from (ps_endpoints' context)
MEMBER_CONTEXTS = frozenset({cv.CTX_MEMBERS, cv.CTX_SUSPENDED})
# the Local channels that lead out to the PSTN: the simulated PSTN, the billed leg, a forward,
# a forward asked on a channel of its own (a simultaneous list with find-me confirmation)
PSTN_LOCAL_CONTEXTS = frozenset({cv.CTX_SIM_PSTN, cv.CTX_BILLED_OUT, cv.CTX_FWD_OUT, cv.CTX_FWD_LEG})


@dataclass(frozen=True)
class LiveChannel:
    channel: str
    uniqueid: str
    linkedid: str
    direction: str
    caller: str
    callee: str
    seconds: int
    state: str
    account_id: int | None = None
    account_name: str = ""

    @property
    def direction_label(self) -> str:
        return str(DIRECTIONS.get(self.direction, self.direction))

    @property
    def duration(self) -> str:
        m, s = divmod(self.seconds, 60)
        h, m = divmod(m, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _resource(channel: str) -> tuple[str, str]:
    """(technology, what it names): PJSIP/1700...-0000002a -> (PJSIP, 1700...);
    Local/123@sim-pstn-00000004;2 -> (Local, 123@sim-pstn)."""
    tech, _sep, rest = channel.partition("/")
    rest = rest.split(";", 1)[0]
    name, dash, suffix = rest.rpartition("-")
    return tech, (name if dash and suffix else rest)


def _seconds(duration: str) -> int:
    """CoreShowChannel's Duration (HH:MM:SS) in seconds."""
    total = 0
    for part in str(duration or "0").split(":"):
        total = total * 60 + (int(part) if part.isdigit() else 0)
    return total


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key, "")
    if isinstance(value, list):  # a header given twice
        value = value[0] if value else ""
    value = str(value or "")
    return "" if value in ("<unknown>", "(None)") else value


def classify(event: Mapping[str, Any], members: Iterable[str]) -> LiveChannel:
    """One CoreShowChannel event as a row (its account still to be found): direction, caller
    and callee. `members` is the virtual numbers among the channels' endpoints."""
    channel = _text(event, "Channel")
    uniqueid, linkedid = _text(event, "Uniqueid"), _text(event, "Linkedid")
    tech, resource = _resource(channel)
    context, exten = _text(event, "Context"), _text(event, "Exten")
    caller = _text(event, "CallerIDNum")
    connected = _text(event, "ConnectedLineNum")
    started = not linkedid or uniqueid == linkedid  # the channel that began the call
    dialled = (
        _DIAL_TARGET.match(_text(event, "ApplicationData")) if _text(event, "Application") == "Dial" else None
    )
    number = exten if _DIGITS.fullmatch(exten) else ""
    if tech == "PJSIP" and resource in set(members):
        if started:
            direction, caller = OUTBOUND, resource
            callee = (number if context in MEMBER_CONTEXTS else "") or (dialled[1] if dialled else connected)
        else:
            direction, callee = MEMBER_LEG, resource
            caller = connected or caller
    elif tech == "PJSIP":  # the trunk or a carrier
        if started:
            direction, callee = INBOUND, number or connected
        else:
            direction, callee = CARRIER, number or connected
            caller = caller or connected
    elif tech == "Local":
        local_exten, _at, local_context = resource.partition("@")
        direction = CARRIER if local_context in PSTN_LOCAL_CONTEXTS else INTERNAL
        callee = local_exten if _DIGITS.fullmatch(local_exten) else number
    else:
        direction, callee = INTERNAL, number or connected
    return LiveChannel(
        channel=channel,
        uniqueid=uniqueid,
        linkedid=linkedid or uniqueid,
        direction=direction,
        caller=caller,
        callee=callee,
        seconds=_seconds(_text(event, "Duration")),
        state=_text(event, "ChannelStateDesc") or _text(event, "ChannelState"),
    )


def read_channels(config: Settings) -> list[dict[str, Any]]:
    """The CoreShowChannel events of the channels up now (AMIError: Asterisk not reachable)."""
    with AMISession(config, timeout=AMI_TIMEOUT) as ami:
        replies = ami.action({"Action": "CoreShowChannels"})
    return [dict(e) for e in replies if hasattr(e, "get") and e.get("Event") == "CoreShowChannel"]


def live_channels(events: list[dict[str, Any]]) -> list[LiveChannel]:
    """The rows, with their accounts, grouped by call (linkedid), the call's first channel first."""
    endpoints = {
        _resource(_text(e, "Channel"))[1] for e in events if _text(e, "Channel").startswith("PJSIP/")
    }
    session = db()
    by_number: dict[str, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(VirtualNumber.number, VirtualNumber.account_id).where(
                VirtualNumber.number.in_(
                    endpoints | {_text(e, "Exten") for e in events if _DIGITS.fullmatch(_text(e, "Exten"))}
                )
            )
        ).all()
    )
    rows = [classify(e, by_number) for e in events]
    extens = {r.callee for r in rows if r.direction == INBOUND and r.callee and r.callee not in by_number}
    by_did: dict[str, int] = {}
    if extens:
        by_did = {
            number: account_id
            for number, account_id in session.execute(
                select(Did.number, Did.account_id).where(Did.number.in_(extens))
            ).all()
            if account_id is not None
        }
    codes = {e["Uniqueid"]: _text(e, "AccountCode") for e in events if "Uniqueid" in e}
    found: list[LiveChannel] = []
    for r in rows:
        account_id: int | None = None
        if r.direction == OUTBOUND:
            account_id = by_number.get(r.caller)
        elif r.direction == MEMBER_LEG:
            account_id = by_number.get(r.callee)
        elif r.direction == INBOUND:
            account_id = by_number.get(r.callee) or by_did.get(r.callee)
        code = codes.get(r.uniqueid, "")
        if account_id is None and code.isdigit() and len(code) < 10:
            account_id = int(code)
        found.append(replace(r, account_id=account_id))
    # a channel with no account of its own: its call's
    per_call: dict[str, int] = {}
    for r in found:
        if r.account_id is not None:
            per_call.setdefault(r.linkedid, r.account_id)
    found = [
        r if r.account_id is not None else replace(r, account_id=per_call.get(r.linkedid)) for r in found
    ]
    # a leg whose caller ID is not a number (a Local channel's first half shows the dialplan's
    # extension): the caller of the channel that began its call
    callers = {
        r.linkedid: r.caller for r in found if r.uniqueid == r.linkedid and _DIGITS.fullmatch(r.caller)
    }
    found = [
        r if _DIGITS.fullmatch(r.caller) else replace(r, caller=callers.get(r.linkedid, r.caller))
        for r in found
    ]
    ids = {r.account_id for r in found if r.account_id is not None}
    names: dict[int, str] = {}
    if ids:
        for a in session.scalars(select(Account).where(Account.id.in_(ids))):
            names[a.id] = a.company or f"{a.first_name} {a.last_name}".strip()
    found = [replace(r, account_name=names.get(r.account_id, "")) if r.account_id else r for r in found]
    first_seen: dict[str, int] = {}
    for i, r in enumerate(found):
        first_seen.setdefault(r.linkedid, i)
    return sorted(found, key=lambda r: (first_seen[r.linkedid], r.uniqueid != r.linkedid, r.uniqueid))


# --- pages -----------------------------------------------------------------------------------


@bp.get("/live-calls/")
def live_calls():
    error = None
    rows: list[LiveChannel] = []
    try:
        rows = live_channels(read_channels(settings()))
    except AMIError as exc:
        error = str(exc)
    calls = len({r.linkedid for r in rows})
    return render_template("admin/live_calls.html", rows=rows, calls=calls, ami_error=error)


@bp.post("/live-calls/hangup")
def live_call_hangup():
    if not ActionForm().validate_on_submit():
        abort(400)
    channel = request.form.get("channel", "")
    if not _CHANNEL.fullmatch(channel):
        flash(_("That is not a channel name."), "error")
        return redirect(url_for(".live_calls"))
    try:
        with AMISession(settings(), timeout=AMI_TIMEOUT) as ami:
            events = [
                dict(e)
                for e in ami.action({"Action": "CoreShowChannels"})
                if hasattr(e, "get") and e.get("Event") == "CoreShowChannel"
            ]
            row = next((r for r in live_channels(events) if r.channel == channel), None)
            if row is None:
                flash(_("Channel %(channel)s is no longer up.", channel=channel), "error")
                return redirect(url_for(".live_calls"))
            reply = ami.action({"Action": "Hangup", "Channel": channel, "Cause": "16"})
    except AMIError as exc:
        flash(_("Asterisk could not be reached: %(error)s", error=str(exc)), "error")
        return redirect(url_for(".live_calls"))
    response = reply[0] if reply else None
    if response is None or response.get("Response") != "Success":
        flash(_("Channel %(channel)s is no longer up.", channel=channel), "error")
        return redirect(url_for(".live_calls"))
    with writing():
        audit(
            db(),
            "admin.call_hangup",
            actor=g.user,
            account_id=row.account_id,
            object_type="channel",
            object_id=channel[:40],
            details={
                "channel": channel,
                "direction": row.direction,
                "caller": row.caller,
                "callee": row.callee,
                "seconds": row.seconds,
            },
            remote_addr=remote(),
        )
    flash(_("Channel %(channel)s was hung up.", channel=channel), "success")
    return redirect(url_for(".live_calls"))
