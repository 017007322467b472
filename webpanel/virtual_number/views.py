"""The help page's "Virtual Number": search (primary only), options, VM password, SIP password
and PIN (primary only), Update, Add (primary only).

Each form posts to its own route, so a bad value in one never touches another's data. The
SIP password is shown once, on the response to the request that set it: never flashed (a
flash would travel in the session cookie), never read back.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from markupsafe import Markup

from db import accounts
from db.accounts import PRIMARY_ONLY_OPTIONS, VN_OPTIONS
from db.errors import ServiceError
from db.models import VirtualNumber
from webpanel import access
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.virtual_number import allowlist, services
from webpanel.virtual_number.forms import (
    OPTION_HELP,
    AddNumberForm,
    OptionsForm,
    PinForm,
    SearchForm,
    SipPasswordForm,
    VmPasswordForm,
)

bp = Blueprint("virtual_number", __name__, url_prefix="/virtual-number", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


def _settings():
    return current_app.extensions["voip_settings"]


def _default_number() -> VirtualNumber:
    """The user's own number (a primary holder logs in with the account's first number)."""
    user = g.user
    if user.role == access.SECONDARY:
        return access.virtual_number_or_404(user.login)
    vn = db().scalar(access.visible_numbers(user).where(VirtualNumber.number == user.login))
    return vn or db().scalar(access.visible_numbers(user).limit(1)) or abort(404)


@bp.get("/")
def index():
    search = SearchForm(request.args)
    wanted = request.args.get("number", "").strip()
    if wanted:
        if g.user.role != access.PRIMARY and wanted != g.user.login:
            abort(404)  # searching is the primary holder's; nothing else exists for others
        vn = db().scalar(access.visible_numbers(g.user).where(VirtualNumber.number == wanted))
        if vn is None:
            flash(_("%(number)s is not a virtual number of your account.", number=wanted), "error")
            return _render(_default_number(), search=search, status=404)
    elif g.user.role == access.PRIMARY:
        # the primary holder's page lists every number anyway: one query gives both
        numbers = list(db().scalars(access.visible_numbers(g.user)).all())
        vn = next((n for n in numbers if n.number == g.user.login), None) or (
            numbers[0] if numbers else abort(404)
        )
        return _render(vn, search=search, numbers=numbers)
    else:
        vn = _default_number()
    return _render(vn, search=search)


@bp.post("/<number>/options")
def options(number: str):
    vn = access.virtual_number_or_404(number)
    form = OptionsForm()
    if form.validate_on_submit():
        submitted = {name: form[name].data for name in VN_OPTIONS}
        try:
            with writing():
                services.update_options(
                    db(), vn, g.user, submitted, set(request.form), remote_addr=request.remote_addr or ""
                )
        except ServiceError as exc:
            form.form_errors.append(service_message(exc))
        else:
            flash(_("Your preferences for %(number)s were saved.", number=vn.number), "success")
            return redirect(url_for(".index", number=vn.number))
    return _render(vn, options=form, status=400)


@bp.post("/<number>/vm-password")
def vm_password(number: str):
    vn = access.virtual_number_or_404(number)
    form = VmPasswordForm()
    if form.validate_on_submit():
        try:
            with writing():
                accounts.set_vm_password(
                    db(), vn, form.vm_password.data, actor=g.user, remote_addr=request.remote_addr or ""
                )
        except ServiceError as exc:
            form.vm_password.errors.append(service_message(exc))
        else:
            flash(_("The VM password of %(number)s was changed.", number=vn.number), "success")
            return redirect(url_for(".index", number=vn.number))
    return _render(vn, vm=form, status=400)


@bp.post("/<number>/sip-password")
@access.roles_required(access.PRIMARY)
def sip_password(number: str):
    vn = access.virtual_number_or_404(number)
    form = SipPasswordForm()
    if form.validate_on_submit():
        chosen = None if form.generate.data else form.sip_password.data
        try:
            with writing():
                password = accounts.set_sip_password(
                    db(),
                    vn,
                    chosen,
                    realm=_settings().sip_realm,
                    actor=g.user,
                    remote_addr=request.remote_addr or "",
                )
        except ServiceError as exc:
            form.sip_password.errors.append(service_message(exc))
        else:
            return render_template(
                "virtual_number/sip_password_set.html", vn=vn, password=password, generated=chosen is None
            )
    return _render(vn, sip=form, status=400)


@bp.post("/<number>/sip-allowlist")
@access.roles_required(access.PRIMARY)
def sip_allowlist(number: str):
    """issue 13: the addresses REGISTER and calls of this number are taken from."""
    vn = access.virtual_number_or_404(number)
    form = allowlist.SipAllowlistForm()
    if form.validate_on_submit():
        try:
            with writing():
                allowlist.set_sip_allowlist(
                    db(), vn, g.user, form.networks, remote_addr=request.remote_addr or ""
                )
        except ServiceError as exc:
            form.sip_allowlist.errors.append(service_message(exc))
        else:
            if form.networks:
                flash(
                    _(
                        "%(number)s now accepts REGISTER and calls only from %(networks)s.",
                        number=vn.number,
                        networks=form.networks.replace(",", ", "),
                    ),
                    "success",
                )
            else:
                flash(
                    _("%(number)s accepts REGISTER and calls from any address.", number=vn.number), "success"
                )
            return redirect(url_for(".index", number=vn.number))
    return _render(vn, allowlist_form=form, status=400)


@bp.post("/<number>/pin")
@access.roles_required(access.PRIMARY)
def pin(number: str):
    vn = access.virtual_number_or_404(number)
    form = PinForm()
    if form.validate_on_submit():
        try:
            with writing():
                services.set_pin(
                    db(),
                    vn,
                    g.user,
                    form.pin.data,
                    key=_settings().pin_hmac_key,
                    remote_addr=request.remote_addr or "",
                )
        except ServiceError as exc:
            form.pin.errors.append(service_message(exc))
        else:
            flash(_("The PIN of %(number)s was changed.", number=vn.number), "success")
            return redirect(url_for(".index", number=vn.number))
    return _render(vn, pin=form, status=400)


@bp.post("/add")
@access.roles_required(access.PRIMARY)
def add():
    form = AddNumberForm()
    if form.validate_on_submit():
        try:
            with writing():
                vn = services.add_number(
                    db(),
                    g.user.account,
                    g.user,
                    form.new_number.data,
                    form.new_name.data,
                    realm=_settings().sip_realm,
                    remote_addr=request.remote_addr or "",
                )
        except ServiceError as exc:
            form.new_number.errors.append(service_message(exc))
        else:
            flash(
                _(
                    "Virtual number %(number)s was added to your account. Set its SIP password "
                    "to register a phone with it.",
                    number=vn.number,
                ),
                "success",
            )
            return redirect(url_for(".index", number=vn.number))
    return _render(_default_number(), add=form, status=400)


def _render(
    vn: VirtualNumber,
    *,
    search: SearchForm | None = None,
    options: OptionsForm | None = None,
    vm: VmPasswordForm | None = None,
    sip: SipPasswordForm | None = None,
    pin: PinForm | None = None,
    add: AddNumberForm | None = None,
    allowlist_form: allowlist.SipAllowlistForm | None = None,
    numbers: list[VirtualNumber] | None = None,
    status: int = 200,
):
    is_primary = g.user.role == access.PRIMARY
    if options is not None:  # a refused update shows what is stored, with the message
        for name in PRIMARY_ONLY_OPTIONS if not is_primary else ():
            options[name].data = getattr(vn, name)
    if numbers is None:
        numbers = list(db().scalars(access.visible_numbers(g.user)).all()) if is_primary else [vn]
    posted = {"vm": vm, "sip": sip, "pin": pin, "add": add}
    blank = _blank_fields()
    forms = {
        "search": search or SearchForm(formdata=None, number=vn.number),
        "options": options,  # None: the stored options (option_checks), no errors
        **{name: form for name, form in posted.items() if form is not None},
        "allowlist": allowlist_form
        or allowlist.SipAllowlistForm(
            formdata=None, sip_allowlist=(vn.sip_allowlist or "").replace(",", "\n")
        ),
    }
    return render_template(
        "virtual_number/index.html",
        vn=vn,
        numbers=numbers,
        forms=forms,
        blank={name: html for name, html in blank.items() if posted.get(name, 0) is None},
        option_checks=_option_checks(options, vn, is_primary),
        no_errors=blank["no_errors"],
        is_primary=is_primary,
        option_help=OPTION_HELP,
        primary_only=PRIMARY_ONLY_OPTIONS,
        options_order=VN_OPTIONS,
    ), status


_BLANK_FORMS = {"vm": VmPasswordForm, "sip": SipPasswordForm, "pin": PinForm, "add": AddNumberForm}
_BLANK_CACHE = "virtual_number.blank_fields"


def _blank_fields() -> dict[str, Markup]:
    """The blank VM password, SIP password, PIN and Add forms' fields as HTML: the same on
    every GET in a language, so rendered once per language and process (issue 16: CPU)."""
    cache = current_app.extensions.setdefault(_BLANK_CACHE, {})
    language = str(get_locale())
    found = cache.get(language)
    if found is None:
        found = {
            name: Markup(
                get_template_attribute("virtual_number/_blank_fields.html", f"{name}_fields")(
                    form_class(formdata=None)
                )
            )
            for name, form_class in _BLANK_FORMS.items()
        }
        # what errors() writes for a form without errors (the stored options' form)
        found["no_errors"] = Markup(
            get_template_attribute("_forms.html", "errors")(OptionsForm(formdata=None))
        )
        cache[language] = found
    return found


def _option_checks(form: OptionsForm | None, vn: VirtualNumber, is_primary: bool) -> Markup | None:
    """The Options form's checkboxes as HTML, from each option's HTML per language, checked
    state and lock, rendered once (issue 16: CPU): `vn`'s options when `form` is None, else the
    form's; None (the template's loop) for a refused form."""
    if form is None:
        checked = {name: bool(getattr(vn, name)) for name in VN_OPTIONS}  # as OptionsForm(obj=vn)
    elif form.form_errors or any(form[name].errors for name in VN_OPTIONS):
        return None
    else:
        checked = {name: bool(form[name].data) for name in VN_OPTIONS}
    cache = current_app.extensions.setdefault(_CHECKS_CACHE, {})
    language = str(get_locale())
    parts = []
    for name in VN_OPTIONS:
        locked = name in PRIMARY_ONLY_OPTIONS and not is_primary
        key = (language, name, checked[name], locked)
        html = cache.get(key)
        if html is None:
            note = _("Primary Account Holders only") if name in PRIMARY_ONLY_OPTIONS else None
            state = OptionsForm(formdata=None, data={name: key[2]})
            option_check = get_template_attribute("virtual_number/_blank_fields.html", "option_check")
            html = cache[key] = str(option_check(state[name], OPTION_HELP[name], locked, note))
        parts.append(f"      {html}\n")
    return Markup("".join(parts).removesuffix("\n"))


_CHECKS_CACHE = "virtual_number.option_checks"
