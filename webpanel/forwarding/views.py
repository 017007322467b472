"""The help page's "Advanced Forwarding Option" as one form: steps 1-3, screening, office
hours; a live plain-language summary, the "what happens if I'm called now" simulator, presets,
and the Call Blocking page.

The primary account holder picks any number of the account; a secondary user has only their
own (access.virtual_number_or_404 answers 404 for any other).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from markupsafe import Markup
from sqlalchemy import and_, bindparam, select

from db import screening as db_screening
from db.models import ForwardingRule, VirtualNumber
from webpanel import access
from webpanel.database import db, writing
from webpanel.forwarding import services, summary
from webpanel.forwarding.forms import NUMBERS_HELP, PRESETS, BlockForm, ForwardingForm, SimulateForm
from webpanel.forwarding.simulate import simulate
from webpanel.i18n import _
from webpanel.validation import attach_errors

bp = Blueprint("forwarding", __name__, url_prefix="/forwarding", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    vn, numbers, read = _chosen_with_numbers(with_rule=True)
    sim = SimulateForm(request.args)
    return _render(
        vn,
        simulator=sim if "simulate" in request.args else None,
        sim_form=sim,
        numbers=numbers,
        rule=read.rule if read else None,
        lookups=read.lookups if read else None,
    )


@bp.post("/<number>")
def save(number: str):
    vn = access.virtual_number_or_404(number)
    form = ForwardingForm()  # CSRFProtect checked the token; the service checks every field
    wanted = request.form.get("preset", "")
    if wanted:
        return _apply_preset(vn, form, wanted)
    try:
        with writing():
            services.save_forwarding(db(), vn, g.user, _input(form), remote_addr=_addr())
    except services.ForwardingError as exc:
        attach_errors(form, exc.errors)
    else:
        flash(_("Forwarding of %(number)s was saved.", number=vn.number), "success")
        return redirect(url_for(".index", number=vn.number))
    return _render(vn, form=form, status=400)


@bp.post("/<number>/summary")
def summary_fragment(number: str):
    """The summary of the form as it stands (not saved): the page's script asks on change."""
    vn = access.virtual_number_or_404(number)
    return render_template("forwarding/_summary.html", **_summary_context(vn, ForwardingForm()))


@bp.get("/blocked")
def blocks():
    vn, numbers, _read = _chosen_with_numbers()
    return _render_blocks(vn, BlockForm(formdata=None), numbers=numbers)


@bp.post("/<number>/blocked")
def block_add(number: str):
    vn = access.virtual_number_or_404(number)
    form = BlockForm()
    if form.validate_on_submit():
        try:
            with writing():
                block = services.add_block(
                    db(), vn, g.user, form.number.data or "", form.note.data or "", remote_addr=_addr()
                )
        except services.ForwardingError as exc:
            attach_errors(form, exc.errors)
        else:
            flash(_("Calls from %(number)s are now refused.", number=block.number), "success")
            return redirect(url_for(".blocks", number=vn.number))
    return _render_blocks(vn, form, status=400)


@bp.post("/<number>/blocked/<int:block_id>/remove")
def block_remove(number: str, block_id: int):
    vn = access.virtual_number_or_404(number)
    with writing():  # CSRFProtect checked the token
        removed = services.remove_block(db(), vn, g.user, block_id, remote_addr=_addr())
    if removed is None:
        return _render_blocks(vn, BlockForm(formdata=None), status=404)
    flash(_("%(number)s is no longer blocked.", number=removed.number), "success")
    return redirect(url_for(".blocks", number=vn.number))


# --- helpers -------------------------------------------------------------------------------


@bp.app_template_global("fwd_aria")
def fwd_aria(field, *described_by: str) -> dict[str, str]:
    """aria-invalid and aria-describedby (the field's errors, then its help) for an input."""
    attrs: dict[str, str] = {}
    ids = [i for i in described_by if i]
    if field.errors:
        attrs["aria-invalid"] = "true"
        ids.insert(0, f"{field.id}-error")
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    return attrs


def _addr() -> str:
    return request.remote_addr or ""


# access.visible_numbers' query (its scope added per user) with, on the own number's row only,
# its rule, blocklist and the member's buddies; built once (a statement built per request
# costs more CPU than the query: issue 16)
_OWN_ROW = VirtualNumber.number == bindparam("login")
_NUMBERS_WITH_RULE = (
    select(VirtualNumber, ForwardingRule, *summary.lookup_columns(_OWN_ROW, bindparam("user_id")))
    .outerjoin(ForwardingRule, and_(ForwardingRule.virtual_number_id == VirtualNumber.id, _OWN_ROW))
    .order_by(VirtualNumber.number)
)


@dataclasses.dataclass(frozen=True)
class _Read:
    """What the page's first query brought besides the numbers (None: the page reads it)."""

    rule: ForwardingRule | None
    lookups: tuple[list[str], list[tuple[str, str | None, str | None]]]  # blocks_and_buddies


def _chosen_with_numbers(
    *, with_rule: bool = False
) -> tuple[VirtualNumber, list[VirtualNumber] | None, _Read | None]:
    """The page's number and, for the primary holder's own number, the numbers its page
    lists (one query gives both; None: the page reads them) and, `with_rule`, the number's
    forwarding rule, blocklist and the member's buddies (in the same query)."""
    if g.user.role == access.PRIMARY and not request.args.get("number", "").strip():
        if not with_rule:
            numbers = list(db().scalars(access.visible_numbers(g.user)).all())
            own = next((n for n in numbers if n.number == g.user.login), None)
            return own or access.virtual_number_or_404(""), numbers, None
        scoped = _NUMBERS_WITH_RULE.where(access.number_scope(g.user))  # as visible_numbers
        rows = db().execute(scoped, {"login": g.user.login, "user_id": g.user.id}).all()
        numbers = [row[0] for row in rows]
        for vn, rule, blocked, friends in rows:
            if vn.number == g.user.login:
                lookups = (list(blocked or []), [(b[0], b[1], b[2]) for b in friends or []])
                return vn, numbers, _Read(rule, lookups)
        return access.virtual_number_or_404(""), numbers, None
    return _chosen_number(), None, None


def _chosen_number() -> VirtualNumber:
    wanted = request.args.get("number", "").strip()
    return access.virtual_number_or_404(wanted) if wanted else _own_number()


def _own_number() -> VirtualNumber:
    return (
        access.virtual_number_or_404(g.user.login)
        if g.user.role == access.SECONDARY
        else (
            db().scalar(access.visible_numbers(g.user).where(VirtualNumber.number == g.user.login))
            or access.virtual_number_or_404("")
        )
    )


def _ring(form: ForwardingForm, prefix: str, enabled: bool) -> services.RingInput:
    return services.RingInput(
        enabled,
        form[f"{prefix}_mode"].data or "",
        form[f"{prefix}_seconds"].data,
        form[f"{prefix}_numbers"].data or "",
    )


def _input(form: ForwardingForm) -> services.ForwardingInput:
    days: list[int] = []
    for raw in form.hours_days.data or []:
        days.append(int(raw) if str(raw).isdigit() and len(str(raw)) == 1 else 99)
    return services.ForwardingInput(
        step1=form.step1.data or "",
        step1_list=_ring(form, "step1", True),
        device_seconds=form.device_seconds.data,
        no_answer=_ring(form, "no_answer", bool(form.no_answer_enabled.data)),
        busy=_ring(form, "busy", bool(form.busy_enabled.data)),
        no_special=bool(form.no_special.data),
        dnd=bool(form.dnd.data),
        reject_anonymous=bool(form.reject_anonymous.data),
        confirm_forwarded=bool(form.confirm_forwarded.data),
        hours_enabled=bool(form.hours_enabled.data),
        hours_days=tuple(days),
        hours_open=form.hours_open.data,
        hours_close=form.hours_close.data,
        after_hours_step1=form.after_hours_step1.data or "",
        after_hours=_ring(form, "after_hours", True),
    )


def _cell() -> str:
    account = g.user.account
    return services.cell_digits(account.pstn_phone if account else "")


def _time_zone(vn: VirtualNumber) -> str:
    account = g.user.account if g.user.account_id == vn.account_id else vn.account  # loaded with the user
    return account.time_zone or db_screening.DEFAULT_TIME_ZONE


def _apply_preset(vn: VirtualNumber, form: ForwardingForm, name: str):
    """A preset fills the form (not saved): the member reviews it and saves."""
    if name not in PRESETS:
        form.form_errors.append(_("Unknown preset."))
        return _render(vn, form=form, status=400)
    for field in form:  # the errors of a half-typed form are not this request's business
        if field.name != "csrf_token":
            field.errors = []
    cell = _cell()
    for key, value in services.preset(name, cell, vn.number).items():
        form[key].data = value
        form[key].raw_data = None
    form.hours_enabled.data = False if name != "vacation" else form.hours_enabled.data
    if name == "road" and not cell:
        message = _("Enter your cell number here (or add it as your phone on Account Information).")
        form.step1_numbers.errors = [message]
    flash(_("Preset filled in below: check it and press Save to use it."), "info")
    return _render(vn, form=form)


def _form_from_rule(rule) -> ForwardingForm:
    data = {name: getattr(rule, name) for name in services.AUDITED}
    for name in ("step1_numbers", "no_answer_numbers", "busy_numbers", "after_hours_numbers"):
        data[name] = "\n".join(data[name] or [])
    data["hours_days"] = [str(d) for d in services.mask_days(rule.hours_days)]
    data["no_special"] = not (rule.no_answer_enabled or rule.busy_enabled)
    return ForwardingForm(formdata=None, data=data)


def _summary_context(
    vn: VirtualNumber,
    form: ForwardingForm | None,
    cell: str | None = None,
    lookups: tuple[list[str], list[tuple[str, str | None, str | None]]] | None = None,
) -> dict:
    values = None
    if form is not None:
        values, _errors = services.forwarding_values(db(), vn, _input(form))
    blocks, buddies = lookups or summary.blocks_and_buddies(db(), vn.id, g.user.id)
    rules = summary.rules_for(db(), vn, _time_zone(vn), values, blocks)
    names = summary.names_for(db(), g.user.id, _cell() if cell is None else cell, vn.number, buddies)
    return {
        "summary": summary.summarize(rules, names),
        "unsaved": form is not None,
        "blocked_count": len(rules.screening.blocked),
        "names": names,
    }


def _local_moment(vn: VirtualNumber, sim: SimulateForm) -> dt.datetime | None:
    day, at = sim.day.data or "", sim.time.data
    if not day and at is None:
        return None
    now = dt.datetime.now(dt.UTC).astimezone(db_screening.zone(_time_zone(vn)))
    date = now.date()
    if day.isdigit() and len(day) == 1 and 0 <= int(day) <= 6:
        date += dt.timedelta(days=(int(day) - now.weekday()) % 7)
    moment = dt.datetime.combine(date, at or now.time().replace(second=0, microsecond=0, tzinfo=None))
    return moment.replace(tzinfo=now.tzinfo)


def _render(
    vn: VirtualNumber,
    *,
    form: ForwardingForm | None = None,
    status: int = 200,
    simulator: SimulateForm | None = None,
    sim_form: SimulateForm | None = None,
    numbers: list[VirtualNumber] | None = None,
    rule: ForwardingRule | None = None,
    lookups: tuple[list[str], list[tuple[str, str | None, str | None]]] | None = None,
):
    if rule is None:
        rule = db().get(ForwardingRule, vn.id)
    if rule is None:
        with writing():  # a rule created for an old number is kept
            rule = services.rule_for(db(), vn)
    cell, time_zone = _cell(), _time_zone(vn)
    context = _summary_context(vn, form, cell, lookups)
    sim_answer = None
    if simulator is not None and simulator.validate():
        caller = simulator.caller.data or summary.ORDINARY_CALLER
        run = simulate(db(), vn.id, caller, _local_moment(vn, simulator))
        sim_answer = summary.answer(run, caller, context["names"])
    if numbers is None:
        numbers = _numbers(vn)
    form_context = {
        "vn": vn,
        "numbers_help": NUMBERS_HELP,
        "time_zone": time_zone,
        "cell": cell,
        "blocked_count": context["blocked_count"],
    }
    form_html = None
    if form is None:  # the stored settings: their HTML is the same for every GET
        form_html = _form_html(rule, form_context)
    return render_template(
        "forwarding/index.html",
        numbers=numbers,
        form=form,
        form_html=form_html,
        presets=_presets(cell, vn.number) if form is not None else {},
        sim_form=sim_form,
        sim_html=_sim_html(sim_form),
        sim_answer=sim_answer,
        **form_context,
        **{k: v for k, v in context.items() if k != "blocked_count"},
    ), status


_FORMS: dict[tuple[Any, ...], Markup] = {}
_FORMS_LOCK = threading.Lock()
MAX_FORMS = 512


def _sim_html(sim_form: SimulateForm | None) -> Markup | None:
    """The simulator's empty fields (forwarding/_sim_fields.html), once per language; None when
    they hold a value or a message (the page renders them)."""
    if sim_form is not None and (
        sim_form.caller.data or sim_form.day.data or sim_form.time.data or sim_form.errors
    ):
        return None
    key = ("sim", id(current_app._get_current_object()), str(get_locale()))  # type: ignore[attr-defined]
    html = _FORMS.get(key)
    if html is None:
        html = Markup(render_template("forwarding/_sim_fields.html", sim_form=SimulateForm(formdata=None)))
        with _FORMS_LOCK:
            if len(_FORMS) >= MAX_FORMS:
                _FORMS.clear()
            _FORMS[key] = html
    return html


def _presets(cell: str, own: str) -> dict[str, dict[str, object]]:
    return {name: services.preset(name, cell, own) for name in PRESETS}


def _form_html(rule: ForwardingRule, context: dict[str, Any]) -> Markup:
    """The form's fields for the stored settings (forwarding/_form.html), rendered once per
    language, link prefix and everything the HTML shows (the stored values, the number's
    switches, zone, cell, blocklist size) in a process: its ~35 widgets were two thirds of the
    page's CPU. The CSRF token is outside it (index.html)."""
    vn = context["vn"]
    key = (
        id(current_app._get_current_object()),  # type: ignore[attr-defined]
        str(get_locale()),
        request.script_root,
        vn.id,
        vn.number,
        vn.voicemail_enabled,
        vn.allow_us_canada_ld,
        vn.allow_international_ld,
        context["time_zone"],
        context["cell"],
        context["blocked_count"],
        tuple(tuple(v) if isinstance(v, list) else v for v in (getattr(rule, n) for n in services.AUDITED)),
    )
    html = _FORMS.get(key)
    if html is None:
        html = Markup(
            render_template(
                "forwarding/_form.html",
                form=_form_from_rule(rule),
                presets=_presets(context["cell"], vn.number),
                **context,
            )
        )
        with _FORMS_LOCK:
            if len(_FORMS) >= MAX_FORMS:
                _FORMS.clear()
            _FORMS[key] = html
    return html


def _numbers(vn: VirtualNumber) -> list[VirtualNumber]:
    return list(db().scalars(access.visible_numbers(g.user)).all()) if g.user.role == access.PRIMARY else [vn]


def _render_blocks(
    vn: VirtualNumber, form: BlockForm, status: int = 200, numbers: list[VirtualNumber] | None = None
):
    if numbers is None:
        numbers = _numbers(vn)
    return render_template(
        "forwarding/blocked.html",
        vn=vn,
        numbers=numbers,
        form=form,
        blocks=services.blocks(db(), vn),
        max_blocks=services.MAX_BLOCKS,
    ), status
