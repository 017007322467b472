"""A member's endpoints under /api/v1/me: their own call records, voicemail, forwarding and
balance, for a primary account holder's token (scope member: read and write; read: GET only).

The token's user is `g.user` here (auth.authenticate), so every rule of the member's panel
applies as is: the numbers they may see (access.number_scope), a mailbox or message outside them
answers 404 (webpanel.voicemail.services), forwarding is checked and saved by
webpanel.forwarding.services exactly as the panel's form is (a number the call would refuse is
refused here too, and nothing is stored unless everything is right).
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request, url_for

from controller.services.voicemail import service as vm
from db.models import VirtualNumber
from webpanel import access
from webpanel.database import db, writing
from webpanel.forwarding import services as forwarding
from webpanel.restapi import auth, records
from webpanel.restapi import schemas as s
from webpanel.restapi.audit import api_audit
from webpanel.restapi.auth import ApiBlueprint as Blueprint
from webpanel.voicemail import services as voicemail
from webpanel.voicemail.audio import playable_in_browser

blp = Blueprint("Member", __name__, url_prefix="/api/v1/me", description="A member's own account")
auth.protect(blp, "member")

ERRORS = (400, 401, 403, 404, 429)
MAX_NUMBERS_TEXT = 1000  # the panel form's limit on a list of numbers (forwarding.forms)
# webpanel.forwarding.services' field names -> this API's
FORWARDING_FIELDS = {
    "step1": "step1.action",
    "step1_mode": "step1.ring.mode",
    "step1_seconds": "step1.ring.seconds",
    "step1_numbers": "step1.ring.numbers",
    "device_seconds": "step1.device_seconds",
    "no_special": "step2",
    **{f"{p}_{k}": f"step2.{p}.{k}" for p in ("no_answer", "busy") for k in ("mode", "seconds", "numbers")},
    "hours_days": "office_hours.days",
    "hours_open": "office_hours.open",
    "hours_close": "office_hours.close",
    "after_hours_step1": "office_hours.after_hours.action",
    **{f"after_hours_{k}": f"office_hours.after_hours.ring.{k}" for k in ("mode", "seconds", "numbers")},
}


def _doc_errors(*codes: int):
    def decorator(view):
        for code in codes:
            view = blp.alt_response(
                code, schema=s.ErrorSchema, description=auth.ERROR_CODES.get(code, "error")
            )(view)
        return view

    return decorator


@blp.get("")
@blp.response(200, s.MeSchema)
@_doc_errors(401, 403, 429)
def me():
    """Who the token speaks for: the account, its numbers, the token's scope."""
    account = g.user.account
    return {
        "account_id": account.id,
        "login": g.user.login,
        "scope": auth.caller().scope,
        "status": account.status,
        "time_zone": account.time_zone,
        "numbers": list(db().scalars(access.visible_numbers(g.user).with_only_columns(VirtualNumber.number))),
    }


@blp.get("/balance")
@blp.response(200, s.BalanceSchema)
@_doc_errors(401, 403, 429)
def balance():
    """The account's balance: what calls can use now (credit less what calls up now hold),
    and the credit bought and not spent."""
    return records.balance(g.user.account_id)


@blp.get("/call-records")
@blp.arguments(s.MemberRecordArgs, location="query")
@blp.response(200, s.CallRecordPageSchema)
@_doc_errors(*ERRORS)
def call_records(args):
    """Your calls newest first, as Call History shows them, within [start, end] (days in the
    account's time zone; default the last 30), keyset-paged."""
    page = records.member_page(
        args["number"], args["start"], args["end"], after=args["after"], limit=args["limit"]
    )
    return records.page_response(page)


# --- voicemail -----------------------------------------------------------------------------------


@blp.get("/voicemail")
@blp.arguments(s.VoicemailArgs, location="query")
@blp.response(200, s.VoicemailListSchema)
@_doc_errors(*ERRORS)
def voicemail_list(args):
    """The messages of one of your mailboxes (default: your own number's), new first."""
    number = args["number"]
    if number and not (number.isdigit() and len(number) <= 40):
        raise auth.not_found("mailbox")
    try:
        box = voicemail.mailbox(db(), g.user, number or None)
    except voicemail.NotFound:
        raise auth.not_found("mailbox") from None
    new, saved = vm.counts(db(), box.id)
    return {
        "mailbox": box.number,
        "new": new,
        "saved": saved,
        "items": [
            {
                "id": m.id,
                "mailbox": box.number,
                "folder": m.folder,
                "caller_name": m.caller_name,
                "caller_number": m.caller_number,
                "received_at": m.received_at,
                "duration_seconds": m.duration_seconds,
                "audio_url": url_for("Member.voicemail_audio", message_id=m.id),
            }
            for m in vm.list_messages(db(), box.id)
        ],
    }


@blp.get("/voicemail/<int:message_id>/audio")
@blp.response(200, description="The message as WAV", content_type="audio/wav")
@_doc_errors(*ERRORS)
def voicemail_audio(message_id: int):
    """One message's audio (WAV)."""
    try:
        box = voicemail.message_mailbox(db(), g.user, message_id)
    except voicemail.NotFound:
        raise auth.not_found("message") from None
    stored = vm.get_audio(db(), box.id, message_id)
    wav = playable_in_browser(*stored) if stored is not None else None
    if wav is None:
        raise auth.not_found("message audio")
    response = Response(
        wav,
        mimetype="audio/wav",
        headers={"Content-Disposition": f'attachment; filename="voicemail-{box.number}-{message_id}.wav"'},
    )
    response.make_conditional(request, accept_ranges=True, complete_length=len(wav))
    return response


# --- forwarding ----------------------------------------------------------------------------------


def _number(number: str) -> VirtualNumber:
    vn = None
    if number.isdigit() and len(number) <= 40:
        vn = db().scalar(access.visible_numbers(g.user).where(VirtualNumber.number == number))
    if vn is None:
        raise auth.not_found("number")
    return vn


def _forwarding(vn: VirtualNumber, rule) -> dict[str, Any]:
    return {
        "number": vn.number,
        "step1": {
            "action": rule.step1,
            "ring": {
                "mode": rule.step1_mode,
                "seconds": rule.step1_seconds,
                "numbers": list(rule.step1_numbers),
            },
            "device_seconds": rule.device_seconds,
        },
        "step2": {
            p: {
                "enabled": getattr(rule, f"{p}_enabled"),
                "mode": getattr(rule, f"{p}_mode"),
                "seconds": getattr(rule, f"{p}_seconds"),
                "numbers": list(getattr(rule, f"{p}_numbers")),
            }
            for p in ("no_answer", "busy")
        },
        "screening": {name: getattr(rule, name) for name in forwarding.SCREENING},
        "office_hours": {
            "enabled": rule.hours_enabled,
            "days": forwarding.mask_days(rule.hours_days),
            "open": rule.hours_open,
            "close": rule.hours_close,
            "after_hours": {
                "action": rule.after_hours_step1,
                "ring": {
                    "mode": rule.after_hours_mode,
                    "seconds": rule.after_hours_seconds,
                    "numbers": list(rule.after_hours_numbers),
                },
            },
        },
        "call_blocks": [
            {"id": b.id, "number": b.number, "note": b.note, "created_at": b.created_at}
            for b in forwarding.blocks(db(), vn)
        ],
    }


@blp.get("/numbers/<number>/forwarding")
@blp.response(200, s.ForwardingSchema)
@_doc_errors(*ERRORS)
def get_forwarding(number: str):
    """The number's forwarding (Advanced Forwarding Option steps 1 and 2), its screening, office
    hours and blocklist."""
    vn = _number(number)
    with writing():  # as the panel's page: a number older than forwarding rules gets its defaults
        rule = forwarding.rule_for(db(), vn)
    return _forwarding(vn, rule)


def _numbers_text(numbers: list[str], field: str) -> str:
    joined = "\n".join(numbers)
    if len(joined) > MAX_NUMBERS_TEXT:
        raise auth.ApiError(400, "invalid", "That list is too long.", field=field)
    return joined


@blp.put("/numbers/<number>/forwarding")
@blp.arguments(s.ForwardingSchema)
@blp.response(200, s.ForwardingSchema)
@_doc_errors(*ERRORS)
def put_forwarding(data, number: str):
    """Replace the number's forwarding, steps 1 and 2 at once, and its screening and office
    hours when given (left as they are when not), checked as the panel's form is (each number
    as the call would treat it): nothing changes unless every field is right. The blocklist is
    read only here."""
    vn = _number(number)
    one, two = data["step1"], data["step2"]
    ring = {
        p: forwarding.RingInput(
            two[p]["enabled"],
            two[p]["mode"],
            two[p]["seconds"],
            _numbers_text(two[p]["numbers"], f"step2.{p}.numbers"),
        )
        for p in ("no_answer", "busy")
    }
    parts = (forwarding.SCREENING if "screening" in data else ()) + (
        forwarding.OFFICE_HOURS if "office_hours" in data else ()
    )
    try:
        with writing():
            rule = _save_forwarding(vn, one, ring)
            if parts:
                rule = forwarding.save_parts(
                    db(), vn, g.user, _parts_input(rule, data, ring), parts, remote_addr=auth.remote()
                )
    except forwarding.ForwardingError as exc:
        name, messages = next(iter(exc.errors.items()))
        raise auth.ApiError(400, "invalid", messages[0], field=FORWARDING_FIELDS.get(name, name)) from None
    return _forwarding(vn, rule)


def _save_forwarding(vn: VirtualNumber, one: dict[str, Any], ring: dict[str, forwarding.RingInput]):
    forwarding.save_step1(
        db(),
        vn,
        g.user,
        step1=one["action"],
        ring=forwarding.RingInput(
            one["action"] == "ring_list",
            one["ring"]["mode"],
            one["ring"]["seconds"],
            _numbers_text(one["ring"]["numbers"], "step1.ring.numbers"),
        ),
        device_seconds=one["device_seconds"],
        remote_addr=auth.remote(),
    )
    rule = forwarding.save_step2(
        db(),
        vn,
        g.user,
        no_answer=ring["no_answer"],
        busy=ring["busy"],
        no_special=not (ring["no_answer"].enabled or ring["busy"].enabled),
        remote_addr=auth.remote(),
    )
    api_audit("forwarding_update", account_id=vn.account_id, obj=vn, details={"number": vn.number})
    return rule


def _parts_input(
    rule, data: dict[str, Any], ring: dict[str, forwarding.RingInput]
) -> forwarding.ForwardingInput:
    """The PUT as the page's form would submit it, for the page's checker (its steps are
    already stored: save_parts stores screening and office hours only)."""
    screening = data.get("screening") or {name: getattr(rule, name) for name in forwarding.SCREENING}
    hours = data.get("office_hours")
    after = (hours or {}).get("after_hours") or {"action": "voicemail", "ring": {}}
    after_ring = after["ring"]
    return forwarding.ForwardingInput(
        step1=rule.step1,
        step1_list=forwarding.RingInput(
            True, rule.step1_mode, rule.step1_seconds, "\n".join(rule.step1_numbers)
        ),
        device_seconds=rule.device_seconds,
        no_answer=ring["no_answer"],
        busy=ring["busy"],
        no_special=not (ring["no_answer"].enabled or ring["busy"].enabled),
        dnd=screening["dnd"],
        reject_anonymous=screening["reject_anonymous"],
        confirm_forwarded=screening["confirm_forwarded"],
        hours_enabled=bool(hours and hours["enabled"]),
        hours_days=tuple(hours["days"]) if hours else (),
        hours_open=hours["open"] if hours else None,
        hours_close=hours["close"] if hours else None,
        after_hours_step1=after["action"],
        after_hours=forwarding.RingInput(
            True,
            after_ring.get("mode", ""),
            after_ring.get("seconds"),
            _numbers_text(after_ring.get("numbers", []), "office_hours.after_hours.ring.numbers"),
        ),
    )
