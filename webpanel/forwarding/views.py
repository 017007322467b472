"""The help page's "Advanced Forwarding Option": steps 1-3 for one virtual number.

The primary account holder picks any number of the account; a secondary user has only their
own. Each step has its own Update, posting only that step.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from db.models import VirtualNumber
from webpanel import access
from webpanel.database import db, writing
from webpanel.forwarding import services
from webpanel.forwarding.forms import NUMBERS_HELP, Step1Form, Step2Form
from webpanel.i18n import _
from webpanel.validation import attach_errors

bp = Blueprint("forwarding", __name__, url_prefix="/forwarding", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    wanted = request.args.get("number", "").strip()
    vn = access.virtual_number_or_404(wanted) if wanted else _own_number()
    return _render(vn)


@bp.post("/<number>/step1")
def step1(number: str):
    vn = access.virtual_number_or_404(number)
    form = Step1Form()
    form.validate_on_submit()  # field checks; the service checks everything again
    if not form.csrf_token.errors:
        try:
            with writing() as write:
                services.save_step1(
                    db(),
                    vn,
                    g.user,
                    step1=form.step1.data or "",
                    ring=services.RingInput(
                        form.step1.data == "ring_list",
                        form.step1_mode.data or "",
                        form.step1_seconds.data,
                        form.step1_numbers.data or "",
                    ),
                    device_seconds=form.device_seconds.data,
                    remote_addr=request.remote_addr or "",
                )
                if form.errors:
                    write.discard()
        except services.ForwardingError as exc:
            attach_errors(form, exc.errors)
        else:
            if not write.discarded:
                flash(_("Step 1 of %(number)s was updated.", number=vn.number), "success")
                return redirect(url_for(".index", number=vn.number))
    return _render(vn, step1=form, status=400)


@bp.post("/<number>/step2")
def step2(number: str):
    vn = access.virtual_number_or_404(number)
    form = Step2Form()
    form.validate_on_submit()
    if not form.csrf_token.errors:
        ring = {
            p: services.RingInput(
                bool(form[f"{p}_enabled"].data),
                form[f"{p}_mode"].data or "",
                form[f"{p}_seconds"].data,
                form[f"{p}_numbers"].data or "",
            )
            for p in ("no_answer", "busy")
        }
        try:
            with writing() as write:
                services.save_step2(
                    db(),
                    vn,
                    g.user,
                    no_answer=ring["no_answer"],
                    busy=ring["busy"],
                    no_special=bool(form.no_special.data),
                    remote_addr=request.remote_addr or "",
                )
                if form.errors:
                    write.discard()
        except services.ForwardingError as exc:
            attach_errors(form, exc.errors)
        else:
            if not write.discarded:
                flash(_("Step 2 of %(number)s was updated.", number=vn.number), "success")
                return redirect(url_for(".index", number=vn.number))
    return _render(vn, step2=form, status=400)


def _own_number() -> VirtualNumber:
    return (
        access.virtual_number_or_404(g.user.login)
        if g.user.role == access.SECONDARY
        else (
            db().scalar(access.visible_numbers(g.user).where(VirtualNumber.number == g.user.login))
            or access.virtual_number_or_404("")
        )
    )


def _render(
    vn: VirtualNumber, *, step1: Step1Form | None = None, step2: Step2Form | None = None, status: int = 200
):
    with writing():  # a rule created for an old number is kept
        rule = services.rule_for(db(), vn)
    if step1 is None:
        step1 = Step1Form(
            formdata=None,
            data={
                "step1": rule.step1,
                "step1_mode": rule.step1_mode,
                "step1_seconds": rule.step1_seconds,
                "step1_numbers": "\n".join(rule.step1_numbers),
                "device_seconds": rule.device_seconds,
            },
        )
    if step2 is None:
        data = {
            f"{p}_{k}": getattr(rule, f"{p}_{k}")
            for p in ("no_answer", "busy")
            for k in ("enabled", "mode", "seconds")
        }
        data.update(
            no_answer_numbers="\n".join(rule.no_answer_numbers),
            busy_numbers="\n".join(rule.busy_numbers),
            no_special=not (rule.no_answer_enabled or rule.busy_enabled),
        )
        step2 = Step2Form(formdata=None, data=data)
    numbers = db().scalars(access.visible_numbers(g.user)).all() if g.user.role == access.PRIMARY else [vn]
    return render_template(
        "forwarding/index.html", vn=vn, numbers=numbers, step1=step1, step2=step2, numbers_help=NUMBERS_HELP
    ), status
