"""Operator admin: DIDs and their connections, rate decks, calling plans, vouchers."""

from __future__ import annotations

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from db.errors import FieldErrors, ServiceError
from db.models import Account, CallingPlan, Did, RateDeck, VirtualNumber, Voucher
from webpanel.admin import services
from webpanel.admin.blueprint import bp, form_errors, get_or_404, page_number, paged, remote, settings
from webpanel.admin.forms import (
    ActionForm,
    DidConnectForm,
    DidCreateForm,
    PlanForm,
    RateImportForm,
    VoucherForm,
)
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.validation import attach_errors

MAX_DECK_BYTES = 15 * 1024 * 1024


# --- DIDs ----------------------------------------------------------------------------------


def _dids_page(
    create_form=None,
    failed: tuple[int, DidConnectForm, list[str]] | None = None,
    status: int = 200,
    q: str | None = None,
):
    """The DIDs list; `q` (else the query string's) narrows it to the numbers containing it: a
    refused change shows its DID's row, with the message, whatever page the DID was on."""
    if q is None:
        q = "".join(ch for ch in request.args.get("q", "") if ch.isascii() and ch.isdigit())[:15]
    page = page_number()
    rows, pages = paged(services.search_dids(q), page)
    dids = [r[0] for r in rows]
    vn_ids = {d.virtual_number_id for d in dids if d.virtual_number_id}
    numbers: dict[int, str] = {}
    if vn_ids:
        found = db().execute(
            select(VirtualNumber.id, VirtualNumber.number).where(VirtualNumber.id.in_(vn_ids))
        )
        numbers = {vn_id: number for vn_id, number in found}
    # issue 15: "Connected to" is a choice among the account's own virtual numbers
    account_numbers = _numbers_of_accounts({d.account_id for d in dids if d.account_id})
    items = []
    for did in dids:
        item = {
            "did": did,
            "account_id": did.account_id or "",
            "errors": [],
            "target": numbers.get(did.virtual_number_id, "")
            if did.connection == "virtual_number"
            else did.connection,
            "fax_email": did.fax_email or "",
            "numbers": account_numbers.get(did.account_id or 0, []),
        }
        if failed and failed[0] == did.id:
            form = failed[1]
            item.update(
                account_id=request.form.get("account_id", ""),
                target=form.target.data or "",
                fax_email=form.fax_email.data or "",
                errors=failed[2],
            )
        items.append(item)
    return render_template(
        "admin/dids.html",
        items=items,
        q=q,
        page=min(page, pages),
        pages=pages,
        create_form=create_form or DidCreateForm(formdata=None),
    ), status


def _numbers_of_accounts(account_ids: set[int]) -> dict[int, list[str]]:
    """Each account's virtual numbers, in order: the targets a DID of that account can ring."""
    found: dict[int, list[str]] = {}
    if account_ids:
        for account_id, number in db().execute(
            select(VirtualNumber.account_id, VirtualNumber.number)
            .where(VirtualNumber.account_id.in_(account_ids))
            .order_by(VirtualNumber.number)
        ):
            found.setdefault(account_id, []).append(number)
    return found


@bp.get("/dids/")
def dids():
    return _dids_page()


@bp.post("/dids/new")
def did_new():
    form = DidCreateForm()
    if form.validate_on_submit():
        try:
            with writing():
                did = services.create_did(
                    db(), g.user, form.number.data, form.account_id.data, remote_addr=remote()
                )
        except FieldErrors as exc:
            attach_errors(form, exc.errors)
        except ServiceError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("DID %(number)s was added.", number=did.number), "success")
            return redirect(url_for(".dids", q=did.number))
    elif not form.csrf_token.errors:
        try:  # every bad field in one submit (issue 16)
            services.check_new_did(db(), form.number.data or "", form.account_id.data)
        except FieldErrors as exc:
            attach_errors(form, exc.errors, unless_wrong=True)
    return _dids_page(create_form=form, status=400)


@bp.post("/dids/<int:did_id>")
def did_connect(did_id: int):
    did = get_or_404(Did, did_id)
    form = DidConnectForm()
    if form.validate_on_submit():
        try:
            with writing():
                services.connect_did(
                    db(),
                    g.user,
                    did,
                    account_id=form.account_id.data,
                    target=form.target.data or "",
                    fax_email=form.fax_email.data or "",
                    remote_addr=remote(),
                )
        except ServiceError as exc:
            errors = [str(exc)]
        else:
            flash(_("DID %(number)s was updated.", number=did.number), "success")
            return redirect(url_for(".dids", q=did.number))
    else:
        errors = form_errors(form)
    return _dids_page(failed=(did_id, form, errors), status=400, q=did.number)


# --- rate decks ----------------------------------------------------------------------------


def _rates_page(form=None, problems: list[str] | None = None, status: int = 200):
    decks = list(db().scalars(select(RateDeck).order_by(RateDeck.id.desc()).limit(50)))
    return render_template(
        "admin/rates.html",
        decks=decks,
        sizes=services.deck_sizes(db()),
        form=form or RateImportForm(formdata=None),
        problems=problems or [],
        action_form=ActionForm(),
    ), status


@bp.get("/rates/")
def rates():
    return _rates_page()


@bp.post("/rates/import")
def rates_import():
    form = RateImportForm()
    if not form.validate_on_submit():
        return _rates_page(form, status=400)
    raw = form.deck.data.read(MAX_DECK_BYTES + 1)
    if len(raw) > MAX_DECK_BYTES:
        return _rates_page(form, [_("The file is larger than 15 MB.")], 400)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _rates_page(form, [_("The file is not UTF-8 text (save the CSV as UTF-8).")], 400)
    try:
        with writing() as write:
            deck, problems = services.import_rate_deck(
                db(), g.user, form.name.data, text, form.activate.data, remote_addr=remote()
            )
            if deck is None:
                write.discard()
    except ServiceError as exc:
        deck, problems = None, [str(exc)]
    if deck is None:
        return _rates_page(form, problems, 400)
    flash(
        _(
            "Rate deck %(name)s was imported (%(count)s prefixes)%(active)s.",
            name=deck.name,
            count=services.deck_sizes(db()).get(deck.id, 0),
            active=_(" and is now active") if deck.active else "",
        ),
        "success",
    )
    return redirect(url_for(".rates"))


@bp.post("/rates/<int:deck_id>/activate")
def rates_activate(deck_id: int):
    deck = get_or_404(RateDeck, deck_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with writing():
            services.activate_deck(db(), g.user, deck, remote_addr=remote())
    except ServiceError as exc:
        return _rates_page(problems=[str(exc)], status=400)
    flash(_("%(name)s is now the active rate deck.", name=deck.name), "success")
    return redirect(url_for(".rates"))


# --- calling plans -------------------------------------------------------------------------


def _plan_values(form: PlanForm) -> services.PlanValues:
    price = form.monthly_price.data
    # called once the form validated: InputRequired refused an empty price, AmountField one it
    # could not read (issue 13 item 8); the service checks the value again
    assert price is not None
    return services.PlanValues(
        form.name.data or "",
        form.regional_minutes.data,
        form.us_canada_minutes.data,
        price,
        form.active.data,
    )


def _plans_page(form=None, errors: list[str] | None = None, status: int = 200):
    plans = list(db().scalars(select(CallingPlan).order_by(CallingPlan.active.desc(), CallingPlan.name)))
    return render_template(
        "admin/plans.html",
        plans=plans,
        form=form or PlanForm(formdata=None),
        errors=errors or [],
        action_form=ActionForm(),
    ), status


@bp.get("/plans/")
def plans():
    return _plans_page()


@bp.post("/plans/new")
def plan_new():
    form = PlanForm()
    if form.validate_on_submit():
        try:
            with writing():
                plan = services.save_plan(db(), g.user, _plan_values(form), remote_addr=remote())
        except FieldErrors as exc:
            attach_errors(form, exc.errors)
            return _plans_page(form, list(form.form_errors), 400)
        except ServiceError as exc:
            return _plans_page(form, [str(exc)], 400)
        flash(_("Calling plan %(name)s was created.", name=plan.name), "success")
        return redirect(url_for(".plans"))
    _name_taken_too(form, None)
    return _plans_page(form, status=400)


def _name_taken_too(form: PlanForm, plan_id: int | None) -> None:
    """A form that failed its own checks still says when the name is taken (issue 16: every
    problem in one submit, not the name on the next one)."""
    if not form.csrf_token.errors and not form.name.errors:
        attach_errors(form, {"name": services.plan_name_errors(db(), form.name.data or "", plan_id)})


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
def plan_edit(plan_id: int):
    plan = get_or_404(CallingPlan, plan_id)
    form = PlanForm(obj=plan) if request.method == "GET" else PlanForm()
    errors: list[str] = []
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                with writing():
                    services.save_plan(db(), g.user, _plan_values(form), plan, remote_addr=remote())
            except FieldErrors as exc:
                attach_errors(form, exc.errors)
                errors = list(form.form_errors)
            except ServiceError as exc:
                errors = [str(exc)]
            else:
                flash(_("Calling plan %(name)s was saved.", name=plan.name), "success")
                return redirect(url_for(".plans"))
        else:
            _name_taken_too(form, plan.id)
        db().refresh(plan)
    status = 400 if request.method == "POST" else 200
    return render_template("admin/plan_edit.html", plan=plan, form=form, errors=errors), status


@bp.post("/plans/<int:plan_id>/delete")
def plan_delete(plan_id: int):
    plan = get_or_404(CallingPlan, plan_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    name = plan.name
    try:
        with writing():
            services.delete_plan(db(), g.user, plan, remote_addr=remote())
    except ServiceError as exc:
        return _plans_page(errors=[str(exc)], status=400)
    flash(_("Calling plan %(name)s was deleted.", name=name), "success")
    return redirect(url_for(".plans"))


# --- vouchers ------------------------------------------------------------------------------


def _vouchers_page(form=None, errors: list[str] | None = None, status: int = 200):
    state = request.args.get("state", "")
    state = state if state in services.VOUCHER_STATES else ""
    page = page_number()
    rows, pages = paged(services.search_vouchers(state), page)
    vouchers = [r[0] for r in rows]
    account_ids = {v.redeemed_by_account_id for v in vouchers if v.redeemed_by_account_id}
    names = (
        {
            a.id: f"{a.first_name} {a.last_name}".strip()
            for a in db().scalars(select(Account).where(Account.id.in_(account_ids)))
        }
        if account_ids
        else {}
    )
    return render_template(
        "admin/vouchers.html",
        vouchers=vouchers,
        state_of=services.voucher_state,
        states=services.VOUCHER_STATES,
        state=state,
        names=names,
        page=min(page, pages),
        pages=pages,
        form=form or VoucherForm(formdata=None),
        errors=errors or [],
        action_form=ActionForm(),
    ), status


@bp.get("/vouchers/")
def vouchers():
    return _vouchers_page()


@bp.post("/vouchers/new")
def vouchers_new():
    form = VoucherForm()
    valid = form.validate_on_submit()
    amount = None
    if not form.csrf_token.errors:
        try:  # every bad field at once, beside the form's own messages (issue 16)
            amount = services.check_vouchers(form.count.data, form.amount.data or "", form.expires_on.data)
        except FieldErrors as exc:
            attach_errors(form, exc.errors, unless_wrong=True)
    if not valid or amount is None:
        return _vouchers_page(form, status=400)
    try:
        with writing():
            made = services.generate_vouchers(
                db(),
                g.user,
                settings().pin_hmac_key,
                form.count.data,
                amount,
                form.expires_on.data,
                remote_addr=remote(),
            )
    except ServiceError as exc:
        return _vouchers_page(form, [str(exc)], 400)
    # the codes exist only in this response: never cached, never stored
    response = make_response(render_template("admin/vouchers_created.html", made=made, amount=amount))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/vouchers/<int:voucher_id>/void")
def voucher_void(voucher_id: int):
    get_or_404(Voucher, voucher_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with writing():
            services.void_voucher(db(), g.user, voucher_id, remote_addr=remote())
    except ServiceError as exc:
        return _vouchers_page(errors=[str(exc)], status=400)
    flash(_("Voucher %(id)s was voided.", id=voucher_id), "success")
    return redirect(url_for(".vouchers"))
