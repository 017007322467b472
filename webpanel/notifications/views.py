"""Notifications: which emails the account gets (missed call, new voicemail with or without its
audio and deleted once sent, low balance under an amount, a weekly summary), all to the
account's email address. Everyone on the account sees them; the primary holder changes them.
The emails are sent by the controller (controller/services/notifications.py)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField

from controller.rules import amounts
from webpanel import access
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.notifications import services
from webpanel.validation import AmountField

bp = Blueprint("notifications", __name__, url_prefix="/notifications", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


class NotificationsForm(FlaskForm):
    missed_call = BooleanField(_l("Email me about each missed call"))
    voicemail_email = BooleanField(_l("Email me each new voicemail message"))
    voicemail_attach = BooleanField(_l("Attach the recording (a WAV file)"))
    voicemail_delete_after = BooleanField(_l("Delete the message once it is emailed"))
    low_balance = BooleanField(_l("Email me when my balance goes under"))
    threshold = AmountField(
        _l("Low balance amount"), column=amounts.MONEY, largest=amounts.MONEY.largest, what=""
    )
    weekly_summary = BooleanField(_l("Email me a summary of each week"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.low_balance.data and self.threshold.data is None and not self.threshold.errors:
            self.threshold.errors = [*self.threshold.errors, _("Enter the amount to be told about.")]
            ok = False
        if self.voicemail_delete_after.data and not (
            self.voicemail_email.data and self.voicemail_attach.data
        ):
            self.voicemail_delete_after.errors = [
                *self.voicemail_delete_after.errors,
                _("Messages are deleted only when they are emailed with the recording attached."),
            ]
            ok = False
        return ok


@bp.get("/")
def index():
    form = NotificationsForm(data=services.current(db(), g.user.account))
    return _render(form)


@bp.post("/")
@access.roles_required(access.PRIMARY)
def update():
    account = g.user.account
    form = NotificationsForm()
    if not form.validate_on_submit():
        return _render(form, status=400)
    values = {name: form[name].data for name in (*services.SWITCHES, "threshold")}
    with writing():
        changed = services.save(db(), account, g.user, values, remote_addr=request.remote_addr or "")
    flash(
        _("Your notification settings were saved.")
        if changed
        else _("Nothing to change: your notification settings are as shown."),
        "success",
    )
    return redirect(url_for(".index"))


def _render(form: NotificationsForm, status: int = 200):
    return render_template(
        "notifications/index.html",
        form=form,
        account=g.user.account,
        may_edit=g.user.role == access.PRIMARY,
    ), status
