"""Operator admin: the overview, accounts and their users, numbers and subscriptions, the audit
log. (DIDs, rate decks, plans and vouchers are in catalog_views; the dialplan in dialplan_views;
the blueprint they share in blueprint.) Every change writes an AuditLog row with the admin as
actor (webpanel.admin.services)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from db.errors import ServiceError
from db.models import (
    Account,
    CallingPlan,
    DialplanVersion,
    Did,
    PlanSubscription,
    RateDeck,
    User,
    VirtualNumber,
    Voucher,
)
from webpanel import reports_db
from webpanel.admin import services
from webpanel.admin.blueprint import bp, form_errors, get_or_404, page_number, paged, remote, settings
from webpanel.admin.forms import (
    ActionForm,
    AddNumberForm,
    AddUserForm,
    NewAccountForm,
    ResetPasswordForm,
    StatusForm,
    SubscribeForm,
)
from webpanel.choices import options
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.validation import FieldErrors, attach_errors, distinct_ids


@bp.get("/")
def index():
    s = db()
    counts = {
        "accounts": s.scalar(select(func.count()).select_from(Account)),
        "suspended": s.scalar(select(func.count()).select_from(Account).where(Account.status == "suspended")),
        "numbers": s.scalar(select(func.count()).select_from(VirtualNumber)),
        "dids": s.scalar(select(func.count()).select_from(Did)),
        "plans": s.scalar(select(func.count()).select_from(CallingPlan).where(CallingPlan.active.is_(True))),
        "vouchers": s.scalar(
            select(func.count())
            .select_from(Voucher)
            .where(Voucher.redeemed_at.is_(None), Voucher.voided_at.is_(None))
        ),
    }
    deck = s.scalar(select(RateDeck).where(RateDeck.active.is_(True)))
    version = s.scalar(select(DialplanVersion).order_by(DialplanVersion.id.desc()).limit(1))
    # issue 17 part 2: which database the reports read (the replica, or the primary and why)
    reports_database = reports_db.describe(reports_db.state())
    return render_template(
        "admin/index.html", counts=counts, deck=deck, version=version, reports_database=reports_database
    )


# --- accounts and users --------------------------------------------------------------------


@bp.get("/accounts/")
def accounts():
    q = request.args.get("q", "").strip()[:80]
    status = request.args.get("status", "")
    status = status if status in services.ACCOUNT_STATUSES else ""
    page = page_number()
    rows, pages = paged(services.search_accounts(q, status), page)
    accounts_ = [r[0] for r in rows]
    ids = [a.id for a in accounts_]
    numbers: dict[int, list[str]] = {}
    if ids:
        for account_id, number in db().execute(
            select(VirtualNumber.account_id, VirtualNumber.number)
            .where(VirtualNumber.account_id.in_(ids))
            .order_by(VirtualNumber.number)
        ):
            numbers.setdefault(account_id, []).append(number)
    return render_template(
        "admin/accounts.html",
        accounts=accounts_,
        numbers=numbers,
        q=q,
        status=status,
        page=min(page, pages),
        pages=pages,
        statuses=services.ACCOUNT_STATUSES,
    )


@bp.route("/accounts/new", methods=["GET", "POST"])
def account_new():
    form = NewAccountForm()
    valid = form.validate_on_submit()
    if request.method == "POST" and not valid:
        try:  # the service's checks too: every problem of the form after one submit (issue 16)
            services.check_new_account(
                db(),
                number=form.number.data or "",
                password=form.password.data or "",
                email=form.email.data or "",
            )
        except FieldErrors as exc:
            attach_errors(form, exc.errors, unless_wrong=True)
    elif valid:
        try:
            with writing():
                account = services.create_account(
                    db(),
                    g.user,
                    number=form.number.data,
                    password=form.password.data,
                    first_name=form.first_name.data or "",
                    last_name=form.last_name.data or "",
                    email=form.email.data or "",
                    realm=settings().sip_realm,
                    remote_addr=remote(),
                )
        except FieldErrors as exc:
            attach_errors(form, exc.errors)
        except ServiceError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(
                _(
                    "Account %(id)s was created; its primary holder logs in with %(login)s.",
                    id=account.id,
                    login=form.number.data,
                ),
                "success",
            )
            return redirect(url_for(".account", account_id=account.id))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/account_new.html", form=form), status


def _account_page(
    account: Account,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    forms: dict[str, Any] | None = None,
):
    s = db()
    numbers = list(
        s.scalars(
            select(VirtualNumber).where(VirtualNumber.account_id == account.id).order_by(VirtualNumber.number)
        )
    )
    users = list(s.scalars(select(User).where(User.account_id == account.id).order_by(User.id)))
    dids = list(s.scalars(select(Did).where(Did.account_id == account.id).order_by(Did.number)))
    subs = s.execute(
        select(PlanSubscription, CallingPlan.name)
        .join(CallingPlan, CallingPlan.id == PlanSubscription.plan_id)
        .where(PlanSubscription.account_id == account.id)
        .order_by(PlanSubscription.id.desc())
    ).all()
    plans = list(
        s.scalars(select(CallingPlan).where(CallingPlan.active.is_(True)).order_by(CallingPlan.name))
    )
    number_by_id = {vn.id: vn.number for vn in numbers}
    forms = dict(forms or {})
    forms.setdefault("status", StatusForm(formdata=None, status=account.status))
    forms.setdefault("number", AddNumberForm(formdata=None))
    user_form = forms.setdefault("user", AddUserForm(formdata=None))
    logins = {u.login for u in users}
    user_form.number.choices = options([(vn.number, vn.number) for vn in numbers if vn.number not in logins])
    sub_form = forms.setdefault(
        "subscribe",
        SubscribeForm(formdata=None, renew_date=services.account_today(account) + dt.timedelta(days=30)),
    )
    sub_form.plan_id.choices = options([(p.id, p.name) for p in plans])
    sub_form.enabled_number.choices = options(
        [("", _("— none —"))] + [(vn.number, vn.number) for vn in numbers]
    )
    forms.setdefault("reset", ResetPasswordForm(formdata=None))
    distinct_ids(forms["number"], "new")  # Add number and Add user both have a "number"
    distinct_ids(user_form, "user")
    recent = s.execute(services.audit_entries(account_id=account.id).limit(20)).all()
    return render_template(
        "admin/account.html",
        account=account,
        numbers=numbers,
        users=users,
        dids=dids,
        subscriptions=subs,
        number_by_id=number_by_id,
        forms=forms,
        errors=errors or {},
        credit=services.account_credit(s, account.id),
        action_form=ActionForm(),
        recent=recent,
    ), status


@bp.get("/accounts/<int:account_id>")
def account(account_id: int):
    return _account_page(get_or_404(Account, account_id))


def _account_action(account: Account, key: str, form, change, check=None) -> Any:
    """Run `change()` when `form` is valid; otherwise (or on ServiceError) show the account page
    with the messages under the form `key`, change nothing, answer 400. `check()` (raising
    FieldErrors) also runs on a form that failed its own checks, so one submit shows every
    bad field next to it (issue 16); those forms' banner keeps only what no field owns."""
    valid = form.validate_on_submit()
    if check is not None and not valid and not form.csrf_token.errors:
        try:
            check()
        except FieldErrors as exc:
            attach_errors(form, exc.errors, unless_wrong=True)
    if valid:
        try:
            with writing():
                message = change()
        except FieldErrors as exc:
            attach_errors(form, exc.errors)
            errors = list(form.form_errors)
        except ServiceError as exc:
            errors = [str(exc)]
        else:
            flash(message, "success")
            return redirect(url_for(".account", account_id=account.id))
    else:
        errors = list(form.form_errors) + list(form.csrf_token.errors) if check else form_errors(form)
    db().refresh(account)
    return _account_page(account, {key: errors}, 400, {key: form})


@bp.post("/accounts/<int:account_id>/status")
def account_status(account_id: int):
    account = get_or_404(Account, account_id)
    form = StatusForm()

    def change() -> str:
        services.set_account_status(db(), g.user, account, form.status.data, remote_addr=remote())
        return _("Account %(id)s is now %(status)s.", id=account.id, status=account.status)

    return _account_action(account, "status", form, change)


@bp.post("/accounts/<int:account_id>/numbers")
def account_add_number(account_id: int):
    account = get_or_404(Account, account_id)
    form = AddNumberForm()

    def change() -> str:
        vn = services.add_number(
            db(), g.user, account, form.number.data, realm=settings().sip_realm, remote_addr=remote()
        )
        return _("Virtual number %(number)s was added.", number=vn.number)

    return _account_action(account, "number", form, change)


@bp.post("/accounts/<int:account_id>/users")
def account_add_user(account_id: int):
    account = get_or_404(Account, account_id)
    form = AddUserForm()

    def check() -> None:
        services.check_secondary_user(
            db(), account, form.number.data or "", form.password.data, form.email.data or ""
        )

    def change() -> str:
        user = services.add_secondary_user(
            db(),
            g.user,
            account,
            form.number.data or "",
            form.password.data,
            form.email.data or "",
            remote_addr=remote(),
        )
        return _("Secondary user %(login)s was created.", login=user.login)

    return _account_action(account, "user", form, change, check)


@bp.post("/accounts/<int:account_id>/subscriptions")
def account_subscribe(account_id: int):
    account = get_or_404(Account, account_id)
    form = SubscribeForm()
    form.plan_id.choices = []

    def check() -> None:
        services.check_subscription(
            db(), account, form.plan_id.data, form.renew_date.data, form.enabled_number.data or ""
        )

    def change() -> str:
        sub = services.subscribe(
            db(),
            g.user,
            account,
            form.plan_id.data,
            form.renew_date.data,
            form.enabled_number.data or "",
            remote_addr=remote(),
        )
        return _("The account now has calling plan subscription %(id)s.", id=sub.id)

    return _account_action(account, "subscribe", form, change, check)


@bp.post("/subscriptions/<int:subscription_id>/cancel")
def subscription_cancel(subscription_id: int):
    sub = get_or_404(PlanSubscription, subscription_id)
    account = get_or_404(Account, sub.account_id)
    form = ActionForm()

    def change() -> str:
        services.cancel_subscription(db(), g.user, sub, remote_addr=remote())
        return _("Subscription %(id)s was cancelled.", id=sub.id)

    return _account_action(account, "subscriptions", form, change)


@bp.post("/users/<int:user_id>/password")
def user_password(user_id: int):
    user = get_or_404(User, user_id)
    if user.account_id is None:
        abort(404)  # admins change their own password on Change Password
    account = get_or_404(Account, user.account_id)
    form = ResetPasswordForm()

    def change() -> str:
        services.reset_password(db(), g.user, user, form.password.data, remote_addr=remote())
        return _("The password of %(login)s was reset; their sessions have ended.", login=user.login)

    return _account_action(account, f"reset-{user.id}", form, change)


# --- audit log -----------------------------------------------------------------------------


@bp.get("/audit/")
def audit_log():
    action = "".join(ch for ch in request.args.get("action", "") if ch.isalnum() or ch in "._")[:64]
    account_raw = request.args.get("account", "").strip()
    account_id = int(account_raw) if account_raw.isdigit() and len(account_raw) <= 9 else None
    page = page_number()
    rows, pages = paged(services.audit_entries(action, account_id), page)
    return render_template(
        "admin/audit.html",
        rows=rows,
        action=action,
        account=account_raw if account_id else "",
        page=min(page, pages),
        pages=pages,
    )
