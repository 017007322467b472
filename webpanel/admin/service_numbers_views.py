"""Operator admin: Service Numbers, the platform's own numbers (conference dial-in, calling-card
and voicemail access, and the operator's own) in one list (db.service_numbers). A member's
phone reaches an enabled one inside, free, at its dialplan target; the admin adds numbers,
changes a number's target and description, and disables or enables it."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from controller.rules import service_numbers as rules
from db import service_numbers
from db.errors import ServiceError
from db.models import ServiceNumber
from webpanel.admin.blueprint import bp, form_errors, get_or_404, remote
from webpanel.choices import options
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip

SERVICE_LABELS = {
    rules.CONFERENCE: _l("Conference"),
    rules.CALLING_CARD: _l("Calling card"),
    rules.VOICEMAIL: _l("Voicemail"),
    rules.OTHER: _l("Other (operator defined)"),
}


class ServiceNumberForm(FlaskForm):
    number = StringField(_l("Number"), [DataRequired(_l("Enter the service number."))], filters=[strip])
    service = SelectField(_l("Service"), choices=options(list(SERVICE_LABELS.items())))
    target = StringField(_l("Dialplan target"), [Length(max=130)], filters=[strip])
    description = StringField(_l("Description"), [Length(max=rules.MAX_DESCRIPTION)], filters=[strip])


class ServiceNumberEditForm(FlaskForm):
    target = StringField(
        _l("Dialplan target"), [DataRequired(_l("Enter the dialplan target."))], filters=[strip]
    )
    description = StringField(_l("Description"), [Length(max=rules.MAX_DESCRIPTION)], filters=[strip])
    enabled = BooleanField(_l("Enabled"))


def _target_error(target: str) -> str | None:
    if rules.valid_target(target):
        return None
    return _(
        "A dialplan target is context,extension,priority in [incoming] or in one of the admin "
        "dialplan's contexts (admin-...), e.g. admin-echo,s,1."
    )


def _page(
    form: ServiceNumberForm | None = None, failed: tuple[int, list[str]] | None = None, status: int = 200
):
    return render_template(
        "admin/service_numbers.html",
        rows=service_numbers.listing(db()),
        labels=SERVICE_LABELS,
        form=form or ServiceNumberForm(formdata=None),
        failed=failed,
    ), status


@bp.get("/service-numbers/")
def service_numbers_index():
    return _page()


@bp.post("/service-numbers/new")
def service_number_new():
    form = ServiceNumberForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    number, service = form.number.data or "", form.service.data or ""
    target = form.target.data or service_numbers.default_target(db(), service) or ""
    problems = []
    if not rules.valid_number(number):
        problems.append(_("A service number is 3 to 15 digits."))
    elif service_numbers.find(db(), number) is not None:
        problems.append(_("Service number %(number)s already exists.", number=number))
    if not target:
        problems.append(_("Enter the dialplan target."))
    elif (error := _target_error(target)) is not None:
        problems.append(error)
    if not problems:
        try:
            with writing():
                service_numbers.add(
                    db(),
                    g.user,
                    number=number,
                    service=service,
                    target=target,
                    description=form.description.data or "",
                    remote_addr=remote(),
                )
        except ServiceError as exc:
            problems.append(str(exc))
        else:
            flash(_("Service number %(number)s was added.", number=number), "success")
            return redirect(url_for(".service_numbers_index"))
    form.form_errors.extend(problems)
    return _page(form, status=400)


@bp.post("/service-numbers/<int:service_number_id>")
def service_number_update(service_number_id: int):
    row = get_or_404(ServiceNumber, service_number_id)
    form = ServiceNumberEditForm()
    problems = form_errors(form) if not form.validate_on_submit() else []
    target = form.target.data or ""
    if not problems and (error := _target_error(target)) is not None:
        problems.append(error)
    if not problems:
        try:
            with writing():
                service_numbers.update(
                    db(),
                    g.user,
                    row,
                    target=target,
                    description=form.description.data or "",
                    enabled=bool(form.enabled.data),
                    remote_addr=remote(),
                )
        except ServiceError as exc:
            problems.append(str(exc))
        else:
            flash(_("Service number %(number)s was updated.", number=row.number), "success")
            return redirect(url_for(".service_numbers_index"))
    return _page(failed=(service_number_id, problems), status=400)
