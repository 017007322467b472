"""Operator admin: Carriers (issue 14). The operator's SIP trunks with their live state (the
qualify status and round trip of the controller's last OPTIONS probe, the calls up now from
Asterisk, the last hour's ASR and ACD),
add / edit / enable / disable / delete, each carrier's buy deck (CSV import replacing the whole
deck), the loss prefixes, a "route this number" tool running the very routing code a call uses
(db.routing.route_number), and a test call to a carrier (AMI Originate to the carrier into
Wait, the outcome shown: an operator's trunk test, not a member's call).

Data changes go through db.carriers (checked again there, audited, carriers.updated_at bumped
so the routing cache reloads). The carrier's password is write-only: no page ever gets it back,
not even as a form's value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import Length

from controller.rules import rating
from controller.services.ami import AMIError, AMILink, AMISession
from controller.settings import Settings
from db import carriers, routing
from db.audit import audit
from db.errors import FieldErrors, ServiceError
from db.models import Carrier, CarrierHealth, CarrierRate
from webpanel.admin.blueprint import bp, get_or_404, remote, settings
from webpanel.admin.forms import ActionForm
from webpanel.choices import options
from webpanel.database import db, writing
from webpanel.i18n import N_, _, service_message
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import attach_errors, strip

MAX_DECK_BYTES = 15 * 1024 * 1024
DECK_SAMPLE = 10
AMI_TIMEOUT = 3.0  # the list page must not hang on a dead Asterisk
TEST_CALL_RING = 20  # seconds a test call may ring before it counts as not answered
TEST_CALL_HOLD = 3  # seconds an answered test call stays up (Wait) before hanging up
EVERY_CARRIER = 10_000  # the route tool lists every carrier reaching the number
_NUMBER = re.compile(r"\+?[0-9]{3,20}", re.ASCII)

CALLER_ID_LABELS = {
    "pass": _l("Pass the member's caller ID"),
    "e164": _l("E.164 (+ and country code)"),
    "national": _l("National (10 digits)"),
    "fixed": _l("Fixed number"),
}
AUTH_TYPE_LABELS = {
    "userpass": _l("Password (userpass)"),
    "md5": _l("md5 of user:realm:password"),
}


# --- db.carriers' messages in the operator's language -----------------------------------------
# db.carriers speaks English (voipctl shares it); each message it raises is here, marked for the
# catalog, with the parts that vary as %(name)s (captured whole, then translated if they are
# words of the catalog: a field's label, "username").
CARRIER_MESSAGES = (
    N_("A carrier name is 1 to 32 lowercase letters, digits and hyphens, starting with a letter or digit."),
    N_("Host %(host)s is not a hostname or an IP address."),
    N_("Host %(host)s is not a valid IPv4 address."),
    N_("Inbound match %(match)s is not an IP address or network (such as 192.0.2.10 or 192.0.2.0/24)."),
    N_("Inbound match %(match)s has bits set past its prefix length; write %(network)s."),
    N_(
        "Inbound match %(match)s is too wide (shorter than /%(bits)s): anyone in it could call in as this carrier."
    ),
    N_("Inbound match %(match)s is listed twice."),
    N_("The inbound match list is longer than 255 characters."),
    N_("Choose at least one codec."),
    N_("Unknown codec %(codec)s: use Asterisk's names (%(codecs)s)."),
    N_("A codec is listed twice."),
    N_("At most %(n)s codecs."),
    N_("%(field)s is a whole number from %(smallest)s to %(largest)s."),
    N_("A carrier password has at most %(n)s characters."),
    N_("A carrier password may not contain control characters."),
    N_("A description has at most 120 characters and no control characters."),
    N_("Enter the carrier's host (a hostname or an IP address)."),
    N_("Transport %(transport)s is not available (use %(transports)s)."),
    N_("The authentication %(what)s is up to 80 letters, digits and . _ @ + = - (no spaces)."),
    N_("Authentication type %(type)s is not userpass or md5."),
    N_("An md5 credential needs the carrier's realm (md5 of user:realm:password)."),
    N_("An outbound registration needs the authentication username."),
    N_("A technical prefix is up to 10 digits, # or *."),
    N_("Caller ID mode %(mode)s is not one of %(modes)s."),
    N_("A caller ID number is 3 to 19 digits, with an optional leading +."),
    N_("The fixed caller ID mode needs the caller ID number to send."),
    N_("Enter the carrier's password for its authentication username."),
    N_("A password needs the authentication username it goes with."),
    N_("Carrier %(name)s already exists."),
    N_("Changing the username, realm or authentication type of an md5 credential needs the password again."),
    N_("A loss prefix is 1 to 15 digits, country code first."),
    N_("A note has at most 120 characters and no control characters."),
    N_("Loss prefix %(prefix)s already exists."),
    # words db.carriers puts into the messages above
    N_("Qualify interval"),
    N_("Setup timeout"),
    N_("username"),
    N_("realm"),
)


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", msgid)
    return re.compile("".join(re.escape(p) if n % 2 == 0 else f"(?P<{p}>.+?)" for n, p in enumerate(parts)))


_PATTERNS = tuple((_pattern(m), m) for m in CARRIER_MESSAGES if "%(" in m or m.endswith("."))


def _attach(form: FlaskForm, exc: FieldErrors) -> None:
    """db.carriers' every bad field, each next to its field in the request's language."""
    attach_errors(form, {name: [say(m) for m in messages] for name, messages in exc.errors.items()})


def say(exc: object) -> str:
    """A db.carriers (or db.rates) message in the request's language (as it is when unknown)."""
    text = str(exc)
    for pattern, msgid in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return _(msgid, **{k: _(v) for k, v in match.groupdict().items()})
    return service_message(text)


# --- forms ---------------------------------------------------------------------------------


class CarrierForm(FlaskForm):
    """Every field as typed; db.carriers.parse_values checks each (one rule for the panel and
    voipctl). `password` is never filled from the stored carrier."""

    name = StringField(_l("Name"), [Length(max=32)], filters=[strip])
    description = StringField(_l("Description"), [Length(max=120)], filters=[strip])
    host = StringField(_l("Host"), [Length(max=255)], filters=[strip])
    port = StringField(_l("Port"), [Length(max=10)], filters=[strip], default="5060")
    transport = SelectField(_l("Transport"), choices=options([(t, t.upper()) for t in carriers.TRANSPORTS]))
    inbound_match = StringField(_l("Inbound match"), [Length(max=400)], filters=[strip])
    auth_username = StringField(_l("Authentication username"), [Length(max=80)], filters=[strip])
    auth_realm = StringField(_l("Realm"), [Length(max=80)], filters=[strip])
    auth_type = SelectField(_l("Authentication type"), choices=options(list(AUTH_TYPE_LABELS.items())))
    password = PasswordField(_l("Password"), [Length(max=200)])
    register = BooleanField(_l("Register to the carrier"))
    tech_prefix = StringField(_l("Technical prefix"), [Length(max=10)], filters=[strip])
    caller_id_mode = SelectField(_l("Caller ID"), choices=options(list(CALLER_ID_LABELS.items())))
    caller_id_number = StringField(_l("Caller ID number"), [Length(max=20)], filters=[strip])
    codecs = StringField(_l("Codecs"), [Length(max=100)], filters=[strip], default="ulaw,alaw")
    max_channels = StringField(_l("Channel limit"), [Length(max=10)], filters=[strip], default="0")
    qualify_seconds = StringField(_l("Qualify interval (s)"), [Length(max=10)], filters=[strip], default="30")
    setup_timeout = StringField(_l("Setup timeout (s)"), [Length(max=10)], filters=[strip], default="8")
    priority = StringField(_l("Priority"), [Length(max=10)], filters=[strip], default="0")
    weight = StringField(_l("Weight"), [Length(max=10)], filters=[strip], default="1")
    enabled = BooleanField(_l("Enabled"), default=True)

    def values(self) -> dict[str, Any]:
        return {name: self[name].data for name in carriers.FIELDS}


class DeckForm(FlaskForm):
    deck = FileField(_l("CSV file"), [FileRequired(_l("Choose the CSV file of the buy deck."))])


class LossPrefixForm(FlaskForm):
    prefix = StringField(_l("Prefix"), [Length(max=40)], filters=[strip])  # db.carriers says why not
    note = StringField(_l("Note"), [Length(max=120)], filters=[strip])


class TrunkTestForm(FlaskForm):
    number = StringField(_l("Number to call"), [Length(max=21)], filters=[strip])


# --- live state: the controller's qualify (carrier_health) and the calls up from Asterisk ----

# the qualify states shown (LiveState.status)
REACHABLE, UNREACHABLE, NOT_QUALIFIED, UNKNOWN = "reachable", "unreachable", "not qualified", "unknown"
STALE_AFTER = 60  # seconds past its qualify interval after which a probe result is not trusted


@dataclass(frozen=True)
class LiveState:
    status: str  # REACHABLE, UNREACHABLE, NOT_QUALIFIED (qualify_seconds 0) or UNKNOWN
    rtt_ms: Decimal | None  # the last OPTIONS' round trip
    calls_up: int | None  # None: Asterisk could not be asked


def qualify_states(names: list[str]) -> dict[str, tuple[str, Decimal | None]]:
    """Each carrier's qualify as the controller last probed it (controller/services/
    carrier_qualify.py writes carrier_health; Asterisk does not qualify realtime carriers).
    No row yet, or one older than the interval plus STALE_AFTER (the controller stopped, the
    carrier just enabled again): unknown."""
    if not names:
        return {}
    now = dt.datetime.now(dt.UTC)
    rows = db().execute(
        select(
            Carrier.name,
            Carrier.qualify_seconds,
            CarrierHealth.reachable,
            CarrierHealth.rtt_ms,
            CarrierHealth.checked_at,
        )
        .outerjoin(CarrierHealth, CarrierHealth.carrier_id == Carrier.id)
        .where(Carrier.name.in_(names))
    )
    out: dict[str, tuple[str, Decimal | None]] = {}
    for name, every, reachable, rtt_ms, checked_at in rows:
        if every == 0:
            out[name] = (NOT_QUALIFIED, None)
        elif reachable is None or (now - checked_at).total_seconds() > every + STALE_AFTER:
            out[name] = (UNKNOWN, None)
        elif reachable:
            rtt = Decimal(str(rtt_ms)).quantize(Decimal("0.01")) if rtt_ms is not None else None
            out[name] = (REACHABLE, rtt)
        else:
            out[name] = (UNREACHABLE, None)
    return out


def calls_up(names: list[str]) -> tuple[dict[str, int], str | None]:
    """The calls up now per carrier (the channels named PJSIP/carrier-<name>-...), over one
    short AMI session. (counts, None) or ({}, why Asterisk could not be asked)."""
    if not names:
        return {}, None
    try:
        with AMISession(settings(), timeout=AMI_TIMEOUT) as ami:
            channels = [
                line.split("!", 1)[0]
                for line in ami.command("core show channels concise", check=False).splitlines()
            ]
    except AMIError as exc:
        return {}, str(exc)
    counts = {}
    for name in names:
        prefix = f"PJSIP/{carriers.endpoint_id(name)}-"
        counts[name] = sum(1 for channel in channels if channel.startswith(prefix))
    return counts, None


def live_states(names: list[str]) -> tuple[dict[str, LiveState], str | None]:
    """Each carrier's qualify (carrier_health) and calls up (AMI): (states, None), or (states
    without the calls up, why Asterisk could not be asked)."""
    qualify = qualify_states(names)
    up, error = calls_up(names)
    states = {
        name: LiveState(*qualify.get(name, (UNKNOWN, None)), up.get(name) if error is None else None)
        for name in names
    }
    return states, error


# --- the test call ---------------------------------------------------------------------------

# OriginateResponse's Reason: the control frame the channel ended on (Asterisk's frame.h)
ORIGINATE_REASONS = {
    "0": _l("the call could not be placed"),
    "1": _l("hung up before answering"),
    "3": _l("rang without an answer"),
    "4": _l("answered"),
    "5": _l("busy"),
    "8": _l("congestion"),
}


@dataclass(frozen=True)
class TrunkTestOutcome:
    answered: bool
    reason: str  # OriginateResponse's Reason code ("" when none came)
    cause: str  # the Hangup event's Q.850 cause and text, when the carrier's channel ended
    sip: str  # the carrier's final SIP response code (the Hangup event's TechCause), if any
    error: str = ""  # Asterisk could not be asked


async def _trunk_test(
    config: Settings, channel: str, endpoint: str, caller_id: str | None
) -> TrunkTestOutcome:
    link = AMILink(config, events=True)
    causes: list[tuple[str, str]] = []  # (SIP response code, Q.850 cause and its text)

    def on_hangup(manager: Any, message: Any) -> None:
        if str(message.get("Channel", "")).startswith(f"PJSIP/{endpoint}-"):
            causes.append(
                (
                    str(message.get("TechCause", "")),
                    f"{message.get('Cause', '')} {message.get('Cause-txt', '')}".strip(),
                )
            )

    link.on("Hangup", on_hangup)
    try:
        await link.open(AMI_TIMEOUT)
        reply = await link.originate(
            channel,
            application="Wait",
            data=str(TEST_CALL_HOLD),
            caller_id=caller_id,
            timeout_ms=TEST_CALL_RING * 1000,
            wait=TEST_CALL_RING + 10,
        )
        messages = reply if isinstance(reply, list) else [reply]
        response = next((m for m in messages if m.get("Event") == "OriginateResponse"), None)
        answered = response is not None and response.get("Response") == "Success"
        reason = "" if response is None else str(response.get("Reason", ""))
        if not answered:
            # the Hangup event of the refused channel comes around the OriginateResponse
            for _i in range(20):
                if causes:
                    break
                await asyncio.sleep(0.05)
        sip, cause = causes[0] if causes else ("", "")
        return TrunkTestOutcome(answered, reason, cause, sip)
    except AMIError as exc:
        return TrunkTestOutcome(False, "", "", "", str(exc))
    finally:
        link.close()


def trunk_test(carrier: Carrier, number: str) -> TrunkTestOutcome:
    endpoint = carriers.endpoint_id(carrier.name)
    channel = f"PJSIP/{carrier.tech_prefix}{number.lstrip('+')}@{endpoint}"
    caller_id = carrier.caller_id_number or None
    return asyncio.run(_trunk_test(settings(), channel, endpoint, caller_id))


# --- pages -----------------------------------------------------------------------------------


def _list_page(loss_form: LossPrefixForm | None = None, status: int = 200):
    s = db()
    rows = carriers.listing(s)
    states, ami_error = live_states([c.name for c in rows])
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    return render_template(
        "admin/carriers.html",
        carriers=rows,
        sizes=carriers.deck_sizes(s),
        states=states,
        ami_error=ami_error,
        traffic=carriers.traffic(s, since),
        loss_prefixes=carriers.loss_prefixes(s),
        loss_form=loss_form or LossPrefixForm(formdata=None),
        action=ActionForm(),
    ), status


@bp.get("/carriers/")
def carriers_index():
    return _list_page()


def _edit_page(
    carrier: Carrier | None,
    form: CarrierForm,
    *,
    deck_problems: list[str] | None = None,
    status: int = 200,
    outcome: TrunkTestOutcome | None = None,
    test_form: TrunkTestForm | None = None,
):
    s = db()
    return render_template(
        "admin/carrier_edit.html",
        carrier=carrier,
        endpoint=carriers.endpoint_id(carrier.name) if carrier else "",
        form=form,
        deck_form=DeckForm(formdata=None),
        deck_problems=deck_problems or [],
        deck_size=carriers.deck_size(s, carrier.id) if carrier else 0,
        deck_sample=carriers.deck_sample(s, carrier.id, DECK_SAMPLE) if carrier else [],
        test_form=test_form or TrunkTestForm(formdata=None),
        outcome=outcome,
        reasons=ORIGINATE_REASONS,
        hold=TEST_CALL_HOLD,
        codecs=carriers.CODECS,
        action=ActionForm(),
    ), status


@bp.route("/carriers/new", methods=["GET", "POST"])
def carrier_new():
    if request.method == "GET":
        return _edit_page(None, CarrierForm(formdata=None))
    form = CarrierForm()
    if form.validate_on_submit():
        try:
            with writing():
                carrier = carriers.create(
                    db(), g.user, form.values(), password=form.password.data or "", remote_addr=remote()
                )
        except FieldErrors as exc:
            _attach(form, exc)
        except ServiceError as exc:
            form.form_errors.append(say(exc))
        else:
            flash(_("Carrier %(name)s was added.", name=carrier.name), "success")
            return redirect(url_for(".carrier_edit", carrier_id=carrier.id))
    form.password.data = ""
    return _edit_page(None, form, status=400)


def _form_of(carrier: Carrier) -> CarrierForm:
    values = {name: getattr(carrier, name) for name in carriers.FIELDS}
    for name in carriers.RANGES:
        values[name] = str(values[name])
    return CarrierForm(formdata=None, **values)


@bp.route("/carriers/<int:carrier_id>", methods=["GET", "POST"])
def carrier_edit(carrier_id: int):
    carrier = get_or_404(Carrier, carrier_id)
    if request.method == "GET":
        return _edit_page(carrier, _form_of(carrier))
    form = CarrierForm()
    form.name.data = carrier.name  # a carrier keeps its name (its Asterisk ids and CDRs use it)
    if form.validate_on_submit():
        try:
            with writing():
                changes = carriers.update(
                    db(),
                    g.user,
                    carrier,
                    form.values(),
                    new_password=form.password.data or "",
                    remote_addr=remote(),
                )
        except ServiceError as exc:
            db().expire(carrier)  # the page shows what is stored, not the refused values
            if isinstance(exc, FieldErrors):
                _attach(form, exc)
            else:
                form.form_errors.append(say(exc))
        else:
            if changes:
                flash(_("Carrier %(name)s was updated.", name=carrier.name), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for(".carrier_edit", carrier_id=carrier.id))
    form.password.data = ""
    return _edit_page(carrier, form, status=400)


@bp.post("/carriers/<int:carrier_id>/enabled")
def carrier_enabled(carrier_id: int):
    carrier = get_or_404(Carrier, carrier_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    enable = request.form.get("enabled") == "1"
    with writing():
        carriers.set_enabled(db(), g.user, carrier, enable, remote_addr=remote())
    if enable:
        flash(_("Carrier %(name)s is enabled.", name=carrier.name), "success")
    else:
        flash(_("Carrier %(name)s is disabled: no call is routed to it.", name=carrier.name), "success")
    return redirect(url_for(".carriers_index"))


@bp.post("/carriers/<int:carrier_id>/delete")
def carrier_delete(carrier_id: int):
    carrier = get_or_404(Carrier, carrier_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    name = carrier.name
    with writing():
        carriers.delete_carrier(db(), g.user, carrier, remote_addr=remote())
    flash(_("Carrier %(name)s and its buy deck were deleted.", name=name), "success")
    return redirect(url_for(".carriers_index"))


@bp.post("/carriers/<int:carrier_id>/rates")
def carrier_rates_import(carrier_id: int):
    carrier = get_or_404(Carrier, carrier_id)
    form = DeckForm()
    if not form.validate_on_submit():
        refused = [str(e) for errors in form.errors.values() for e in errors]
        return _edit_page(carrier, _form_of(carrier), deck_problems=refused, status=400)
    raw = form.deck.data.read(MAX_DECK_BYTES + 1)
    problems: list[str] = []
    text, count = "", 0
    if len(raw) > MAX_DECK_BYTES:
        problems.append(_("The file is larger than 15 MB."))
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems.append(_("The file is not UTF-8 text (save the CSV as UTF-8)."))
    if not problems:
        try:
            with writing():
                count = carriers.import_buy_deck(db(), g.user, carrier, text, remote_addr=remote())
        except ServiceError as exc:
            problems.append(say(exc))
    if problems:
        db().expire(carrier)
        return _edit_page(carrier, _form_of(carrier), deck_problems=problems, status=400)
    flash(
        _("The buy deck of %(name)s was replaced (%(count)s prefixes).", name=carrier.name, count=count),
        "success",
    )
    return redirect(url_for(".carrier_edit", carrier_id=carrier.id))


@bp.post("/carriers/<int:carrier_id>/test-call")
def carrier_test_call(carrier_id: int):
    carrier = get_or_404(Carrier, carrier_id)
    form = TrunkTestForm()
    number = form.number.data or ""
    if not form.validate_on_submit() or not _NUMBER.fullmatch(number):
        form.form_errors.append(_("Enter the number to call: 3 to 20 digits, with an optional leading +."))
        return _edit_page(carrier, _form_of(carrier), test_form=form, status=400)
    outcome = trunk_test(carrier, number)
    with writing():
        audit(
            db(),
            "carrier.test_call",
            actor=g.user,
            obj=carrier,
            details={
                "name": carrier.name,
                "number": number,
                "answered": outcome.answered,
                "reason": outcome.reason,
                "cause": outcome.cause,
                "sip": outcome.sip,
            },
            remote_addr=remote(),
        )
    return _edit_page(carrier, _form_of(carrier), outcome=outcome, test_form=form)


@bp.post("/carriers/loss-prefixes")
def carrier_loss_prefix_add():
    form = LossPrefixForm()
    if form.validate_on_submit():
        try:
            with writing():
                carriers.add_loss_prefix(
                    db(), g.user, form.prefix.data or "", form.note.data or "", remote_addr=remote()
                )
        except ServiceError as exc:
            form.form_errors.append(say(exc))
        else:
            flash(_("Calls to %(prefix)s may now be routed at a loss.", prefix=form.prefix.data), "success")
            return redirect(url_for(".carriers_index"))
    return _list_page(form, status=400)


@bp.post("/carriers/loss-prefixes/<prefix>/delete")
def carrier_loss_prefix_delete(prefix: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with writing():
            carriers.remove_loss_prefix(db(), g.user, prefix, remote_addr=remote())
    except ServiceError:
        abort(404)
    flash(_("Loss prefix %(prefix)s was removed.", prefix=prefix), "success")
    return redirect(url_for(".carriers_index"))


# --- route this number -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One carrier of the route tool's answer."""

    name: str
    buy: rating.Rate
    margin: Decimal | None  # on a one-minute call, connect fees included; None without a sell rate
    dropped: str  # why a call does not try it, or passes over it now ("" when it tries it)


def _skipped(candidate: Any, states: dict[str, LiveState]) -> str:
    """Why a call would pass over this carrier right now (the dialplan skips a carrier whose
    qualify fails or that is at its channel limit); "" when it would try it."""
    state = states.get(candidate.name)
    if state is None:
        return ""
    if state.status == UNREACHABLE:
        return str(_("its qualify fails now: calls skip it"))
    if candidate.max_channels and state.calls_up is not None and state.calls_up >= candidate.max_channels:
        return str(_("at its channel limit now: calls skip it"))
    return ""


def _disabled_matches(digits: str) -> list[tuple[str, str]]:
    """(name, prefix) of each disabled carrier with a prefix of the number: never routed to,
    shown so the operator sees why."""
    prefixes = [digits[:n] for n in range(1, min(len(digits), 15) + 1)]
    rows = db().execute(
        select(Carrier.name, CarrierRate.prefix)
        .join(CarrierRate, CarrierRate.carrier_id == Carrier.id)
        .where(Carrier.enabled.is_(False), CarrierRate.prefix.in_(prefixes))
        .order_by(Carrier.name, CarrierRate.prefix.desc())
    )
    found: dict[str, str] = {}
    for name, prefix in rows:
        found.setdefault(name, prefix)
    return sorted(found.items())


@bp.get("/carriers/route")
def carriers_route():
    raw = (request.args.get("number") or "").strip()[:32]
    digits = raw.lstrip("+")
    context: dict[str, Any] = {"number": raw, "asked": bool(raw), "rows": [], "sell": None, "error": ""}
    if raw and not (digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 20):
        context["error"] = _("Enter a number in international format: country code and number, digits only.")
    elif raw:
        # every carrier reaching the number, in the call's order; those past the attempts a
        # call makes are shown as such
        sell, decision = routing.route_number(db(), digits, max_attempts=EVERY_CARRIER)
        attempts = settings().route_max_attempts
        context["sell"] = sell
        context["decision"] = decision
        if decision is not None:
            states, _error = live_states([c.name for c in decision.candidates])
            past = _("past the %(n)s attempts a call makes", n=attempts)
            rows = [
                Row(c.name, c.buy, decision.margin(c), past if i >= attempts else _skipped(c, states))
                for i, c in enumerate(decision.candidates)
            ]
            loss = _("buys above the sell price and no loss prefix allows it")
            rows += [Row(c.name, c.buy, decision.margin(c), loss) for c in decision.refused]
            context["rows"] = rows
        context["disabled"] = _disabled_matches(digits)
    return render_template("admin/carriers_route.html", **context)
