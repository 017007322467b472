"""Calls as the sandbox Asterisk writes their CDRs, one helper per kind of call, for the panel
tests that cannot place real calls (tests/asterisk/test_call_history_real_calls.py places them).

Each helper returns the CDR rows (cdr_values dicts) of one call, with the columns Asterisk and
the controller's routes fill as they were seen on Asterisk 22 (cdr_pgsql, cdr.conf unanswered
= yes): every leg of one call shares its linkedid; a member's device dialling runs route
`outbound` (CDR vnum, call_class, dialed), which sends an allowed call to dial-out,dial (so
dst is `dial`), an on-net one to incoming,<number> (dst the number, class N) and a refused one
to refused,<reason> (dst the reason, answered for the announcement; dialed what was dialled);
route `inbound` tags a call from the PSTN with the member's number and the number dialled
(vnum, dialed, no class); a forwarded PSTN leg is a Local
channel in fwd-out deciding like the member's outbound call; a Dial that ends unanswered is a
CDR of its own, and what the channel does next (voicemail: dial-out,voicemail; the Hangup after
a busy Dial) is another.
"""

from __future__ import annotations

import datetime as dt
import itertools

from .cdrs import cdr_values

_calls = itertools.count(1)


def _linkedid(start: dt.datetime) -> str:
    return f"{int(start.timestamp())}.{next(_calls)}"


def _leg(
    linkedid: str,
    start: dt.datetime,
    *,
    vnum: str | None,
    src: str,
    dst: str,
    dcontext: str,
    channel: str,
    dstchannel: str = "",
    disposition: str = "ANSWERED",
    billsec: int = 0,
    call_class: str | None = None,
    dialed: str | None = None,
    clid: str = "",
    lastapp: str = "Dial",
) -> dict:
    row = cdr_values(
        vnum=vnum,
        start=start,
        src=src,
        dst=dst,
        dialed=dialed,
        call_class=call_class,
        billsec=billsec,
        disposition=disposition,
        clid=clid,
        linkedid=linkedid,
        dstchannel=dstchannel,
    )
    return {**row, "dcontext": dcontext, "channel": channel, "lastapp": lastapp}


def on_net(
    caller: str,
    called: str,
    start: dt.datetime,
    *,
    answered: int | None = None,
    device: str = "ANSWERED",
    voicemail: int | None = None,
    devices: int = 1,
) -> list[dict]:
    """`caller`'s phone dials member `called`: its devices ring (one CDR per device; `device`:
    what the first one did, the others rang unanswered) and `answered` seconds of talk, or
    `voicemail` seconds in the called member's voicemail after they did not answer."""
    lid = _linkedid(start)
    common = dict(
        vnum=caller,
        src=caller,
        call_class="N",
        dialed=called,
        clid=f'"Caller" <{caller}>',
        channel=f"PJSIP/{caller}-00000001",
    )
    legs = []
    for n in range(devices):
        disposition = device if n == 0 else "NO ANSWER"
        legs.append(
            _leg(
                lid,
                start,
                dst=called,
                dcontext="incoming",
                dstchannel=f"PJSIP/{called}-{n + 2:08x}",
                disposition=disposition,
                billsec=(answered or 0) if disposition == "ANSWERED" else 0,
                **common,
            )
        )
    if voicemail is not None:
        legs.append(
            _leg(
                lid,
                start + dt.timedelta(seconds=20),
                dst="voicemail",
                dcontext="dial-out",
                billsec=voicemail,
                lastapp="Stasis",
                **common,
            )
        )
    return legs


def on_net_to_unregistered_voicemail(
    caller: str, called: str, start: dt.datetime, seconds: int
) -> list[dict]:
    """No device registered: the Dial fails at once with no party B, and the voicemail's answer
    lands on that same CDR (answered, no dstchannel)."""
    lid = _linkedid(start)
    return [
        _leg(
            lid,
            start,
            vnum=caller,
            src=caller,
            dst=called,
            dcontext="incoming",
            billsec=seconds,
            call_class="N",
            dialed=called,
            channel=f"PJSIP/{caller}-00000001",
        )
    ]


def outbound(
    caller: str,
    dialed: str,
    call_class: str,
    start: dt.datetime,
    *,
    billsec: int = 0,
    disposition: str = "ANSWERED",
) -> list[dict]:
    """`caller`'s phone dials `dialed` on the PSTN; a Dial that ends unanswered leaves a second
    CDR (the Hangup after it: FAILED)."""
    lid = _linkedid(start)
    common = dict(
        vnum=caller,
        src=caller,
        call_class=call_class,
        dialed=dialed,
        channel=f"PJSIP/{caller}-00000001",
        dst="dial",
        dcontext="dial-out",
    )
    trunk = f"Local/{dialed}@sim-pstn-00000001;1"
    legs = [
        # the simulated PSTN's side (no vnum: nobody's)
        _leg(
            lid,
            start,
            vnum=None,
            src=caller,
            dst=dialed,
            dcontext="sim-pstn",
            channel=f"Local/{dialed}@sim-pstn-00000001;2",
            disposition=disposition,
            billsec=billsec,
            lastapp="Wait",
        ),
        _leg(lid, start, dstchannel=trunk, disposition=disposition, billsec=billsec, **common),
    ]
    if disposition != "ANSWERED":
        legs.append(_leg(lid, start, disposition="FAILED", lastapp="Hangup", **common))
    return legs


def refused(caller: str, dialed: str | None, reason: str, start: dt.datetime) -> list[dict]:
    """Route outbound refused the call: the refusal context answers, announces `reason`,
    hangs up. `dialed`: what the phone dialled (None: a CDR written before the controller
    recorded it)."""
    return [
        _leg(
            _linkedid(start),
            start,
            vnum=caller,
            src=caller,
            dst=reason,
            dcontext="refused",
            billsec=4,
            dialed=dialed,
            channel=f"PJSIP/{caller}-00000001",
            lastapp="Hangup",
        )
    ]


def from_pstn(
    member: str,
    number: str,
    caller: str,
    start: dt.datetime,
    *,
    device: str = "ANSWERED",
    billsec: int = 0,
    voicemail: int | None = None,
    clid: str = "",
) -> list[dict]:
    """A PSTN caller dials `number` (a DID of `member`, or the member's own number); the
    member's phone does `device`, then maybe `voicemail` seconds in voicemail."""
    lid = _linkedid(start)
    common = dict(vnum=member, src=caller, clid=clid, channel="PJSIP/trunk-00000001", dialed=number)
    legs = [
        _leg(
            lid,
            start,
            dst=number,
            dcontext="incoming",
            dstchannel=f"PJSIP/{member}-00000002",
            disposition=device,
            billsec=billsec if device == "ANSWERED" else 0,
            **common,
        )
    ]
    if voicemail is not None:
        legs.append(
            _leg(
                lid,
                start + dt.timedelta(seconds=20),
                dst="voicemail",
                dcontext="dial-out",
                billsec=voicemail,
                lastapp="Stasis",
                **common,
            )
        )
    return legs


def ring_list(
    member: str,
    did: str,
    caller: str,
    start: dt.datetime,
    targets: dict[str, tuple[str, str, int]],
) -> list[dict]:
    """A PSTN call to `member`'s DID rings a list at once: `targets` maps each number to
    (class, disposition, seconds). Each target is a Local leg in fwd-out charged to the member,
    and the inbound channel has one CDR per target."""
    lid = _linkedid(start)
    legs = []
    for n, (number, (call_class, disposition, seconds)) in enumerate(targets.items()):
        local = f"Local/{number}@fwd-out-{n:08x}"
        legs.append(
            _leg(
                lid,
                start,
                vnum=member,
                src=caller,
                dst=did,
                dialed=did,
                dcontext="incoming",
                channel="PJSIP/trunk-00000001",
                dstchannel=f"{local};1",
                disposition=disposition,
                billsec=seconds,
            )
        )
        legs.append(
            _leg(
                lid,
                start,
                vnum=member,
                src=did,
                dst="dial",
                dcontext="dial-out",
                channel=f"{local};2",
                dstchannel=f"Local/{number}@sim-pstn-{n:08x};1",
                disposition=disposition,
                billsec=seconds,
                call_class=call_class,
                dialed=number,
            )
        )
    return legs
