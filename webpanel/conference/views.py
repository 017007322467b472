"""The help page's "Conference": the list with each conference's status, Schedule, Edit,
Delete, and the guest list with Add, Remove and the email invite.

The schedule form is one page, as the help page describes it: Add and Remove change the guest
rows on the page (nothing is saved), Schedule saves everything at once and sends the invites
that are due. Resend invite emails one saved guest again. Delete tells the guests an invite
reached that the conference is off (a cancellation email whose .ics removes the calendar entry).

URLs: /conference/ (list), /conference/schedule, /conference/<id>/edit, /conference/<id>/delete,
/conference/<id>/guests/<guest_id>/invite.
"""

from __future__ import annotations

import datetime as dt
import functools

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
from sqlalchemy.exc import IntegrityError

from controller.services.conference import service as conference_service
from controller.services.conference.invites import display_number
from db.errors import ServiceError
from db.models import Conference
from webpanel import access, choices
from webpanel.conference import services
from webpanel.conference.forms import ConferenceForm, duration_label
from webpanel.database import db, writing
from webpanel.i18n import _, ngettext
from webpanel.validation import FieldErrors, attach_errors

bp = Blueprint("conference", __name__, url_prefix="/conference", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


def _settings():
    return current_app.extensions["voip_settings"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _conference_or_404(conference_id: int) -> Conference:
    """Another account's conference, or one of the account that this user does not manage,
    answers 404 like a missing one (ids cannot be probed)."""
    access.owned_or_404(Conference, conference_id)
    conference = services.conference_for(db(), g.user, conference_id)
    if conference is None:
        abort(404)
    return conference


@bp.get("/")
def index():
    now = _now()
    rows = services.conferences(db(), g.user, now)
    return render_template(
        "conference/index.html",
        rows=rows,
        now=now,
        services=services,
        duration_label=duration_label,
        dial_in=_dial_in(),
    )


@bp.route("/schedule", methods=["GET", "POST"])
def schedule():
    if request.method == "GET":
        date, time = services.local_parts(services.next_hour(_now()), services.user_zone(g.user))
        form = _new_form(
            data={
                "admin_name": services.default_admin_name(g.user),
                "admin_phone": g.user.login,
                "date": date,
                "time": time,
                "duration": str(services.DEFAULT_DURATION),
            }
        )
        return _render(form, None)
    return _post(None)


@bp.route("/<int:conference_id>/edit", methods=["GET", "POST"])
def edit(conference_id: int):
    conference = _conference_or_404(conference_id)
    if not services.editable(conference, _now()):
        flash(_("This conference has started or expired; it can no longer be changed."), "error")
        return redirect(url_for(".index"))
    if request.method == "GET":
        return _render(_new_form(data=_data_of(conference)), conference)
    return _post(conference)


@bp.post("/<int:conference_id>/delete")
def delete(conference_id: int):
    conference = _conference_or_404(conference_id)  # CSRFProtect has checked the token
    when = _when(conference)
    language = services.owner_language(db(), conference)
    remote = request.remote_addr or ""
    try:
        with writing():
            cancelled = services.delete(
                db(), g.user, conference, settings=_settings(), now=_now(), remote_addr=remote
            )
    except ServiceError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".index"))
    flash(_("The conference of %(when)s was deleted, with its guest list.", when=when), "success")
    if cancelled:  # the guests who got an invite hear that it is off (after the commit)
        with writing():
            result = services.send_cancellations(
                db(), _settings(), g.user, language, cancelled, now=_now(), remote_addr=remote
            )
        if result.sent:
            flash(
                ngettext(
                    "A cancellation was sent to %(emails)s.",
                    "Cancellations were sent to %(emails)s.",
                    len(result.sent),
                    emails=", ".join(result.sent),
                ),
                "success",
            )
        if result.failed:
            flash(
                ngettext(
                    "The cancellation to %(emails)s could not be sent (the mail server did not accept it).",
                    "The cancellations to %(emails)s could not be sent (the mail server did not accept "
                    "them).",
                    len(result.failed),
                    emails=", ".join(result.failed),
                ),
                "error",
            )
    return redirect(url_for(".index"))


@bp.post("/<int:conference_id>/guests/<int:guest_id>/invite")
def resend_invite(conference_id: int, guest_id: int):
    conference = _conference_or_404(conference_id)
    guest = services.guest_in(conference, guest_id)
    if guest is None:
        abort(404)
    back = (
        url_for(".edit", conference_id=conference.id)
        if services.editable(conference, _now())
        else url_for(".index")
    )
    try:
        with writing():
            result = services.resend_invite(
                db(),
                _settings(),
                g.user,
                conference,
                guest,
                now=_now(),
                remote_addr=request.remote_addr or "",
            )
    except ServiceError as exc:
        flash(str(exc), "error")
        return redirect(back)
    _flash_invites(result)
    return redirect(back)


# --- the schedule form -----------------------------------------------------------------


def _new_form(data: dict) -> ConferenceForm:
    return ConferenceForm(formdata=None, data=data)


def _data_of(conference: Conference) -> dict:
    date, time = services.local_parts(conference.starts_at, services.user_zone(g.user))
    return {
        "admin_name": conference.admin_name,
        "admin_phone": conference.admin_phone,
        "video": conference.video,
        "quiet_mode": conference.quiet_mode,
        "allow_800": conference.allow_800,
        "date": date,
        "time": time,
        "duration": str(conference.duration_minutes),
        "guests": [
            {
                "guest_id": str(x.id),
                "virtual_number": x.virtual_number,
                "name": x.name,
                "email": x.email,
                "role": x.role,
                "send_invite": x.send_invite,
            }
            for x in sorted(conference.guests, key=lambda x: x.id)
        ],
    }


def _form_data(form: ConferenceForm) -> dict:
    """What the member typed, as data for a fresh form (rows numbered 0, 1, 2... again)."""
    return {
        "admin_name": form.admin_name.data or "",
        "admin_phone": form.admin_phone.data or "",
        "video": form.video.data,
        "quiet_mode": form.quiet_mode.data,
        "allow_800": form.allow_800.data,
        "date": form.date.data or "",
        "time": form.time.data or "",
        "duration": form.duration.data or "",
        "guests": [
            {
                "guest_id": e.form.guest_id.data or "",
                "virtual_number": e.form.virtual_number.data or "",
                "name": e.form.name.data or "",
                "email": e.form.email.data or "",
                "role": e.form.role.data or "normal",
                "send_invite": e.form.send_invite.data,
            }
            for e in form.guests.entries
        ],
    }


def _input(form: ConferenceForm) -> services.ConferenceInput:
    try:
        duration = int(form.duration.data or "")
    except ValueError:
        duration = 0
    guests = []
    for e in form.guests.entries:
        raw_id = (e.form.guest_id.data or "").strip()
        guests.append(
            services.GuestInput(
                guest_id=int(raw_id) if raw_id.isdigit() else (-1 if raw_id else None),
                virtual_number=e.form.virtual_number.data or "",
                name=e.form.name.data or "",
                email=e.form.email.data or "",
                role=e.form.role.data or "normal",
                send_invite=bool(e.form.send_invite.data),
            )
        )
    return services.ConferenceInput(
        admin_name=form.admin_name.data or "",
        admin_phone=form.admin_phone.data or "",
        video=bool(form.video.data),
        quiet_mode=bool(form.quiet_mode.data),
        allow_800=bool(form.allow_800.data),
        date=form.date.data or "",
        time=form.time.data or "",
        duration_minutes=duration,
        guests=guests,
    )


def _post(conference: Conference | None):
    form = ConferenceForm()
    if "add_guest" in request.form:
        data = _form_data(form)
        if len(data["guests"]) >= services.MAX_GUESTS:
            form = _new_form(data)
            form.form_errors.append(_("A conference has at most %(n)d guests.", n=services.MAX_GUESTS))
            return _render(form, conference, status=400)
        data["guests"].append({"role": "normal"})
        return _render(_new_form(data), conference, focus=len(data["guests"]) - 1)
    if "remove" in request.form:
        data = _form_data(form)
        try:
            del data["guests"][int(request.form["remove"])]
        except (ValueError, IndexError):
            pass
        return _render(_new_form(data), conference)
    return _save(form, conference)


def _save(form: ConferenceForm, conference: Conference | None):
    values = _input(form)  # CSRFProtect has checked the token; the services check the rest
    remote = request.remote_addr or ""
    try:
        with writing():
            if conference is None:
                saved = services.schedule(db(), g.user, values, now=_now(), remote_addr=remote)
            else:
                saved = services.update(db(), g.user, conference, values, now=_now(), remote_addr=remote)
    except FieldErrors as exc:
        _attach(form, exc.errors)
        return _render(form, conference, status=400)
    except ServiceError as exc:
        form.form_errors.append(str(exc))
        return _render(form, conference, status=400)
    except IntegrityError:  # a PIN drawn here was drawn by another save meanwhile
        form.form_errors.append(_("That PIN was just taken by another conference. Click Schedule again."))
        return _render(form, conference, status=409)
    when = _when(saved.conference)
    if conference is None:
        flash(_("Your conference on %(when)s was scheduled.", when=when), "success")
    else:
        flash(_("Your conference on %(when)s was saved.", when=when), "success")
    if saved.invite_guest_ids:
        with writing():
            result = services.send_invites(
                db(),
                _settings(),
                g.user,
                saved.conference,
                saved.invite_guest_ids,
                now=_now(),
                remote_addr=remote,
            )
        _flash_invites(result)
    return redirect(url_for(".index"))


def _attach(form: ConferenceForm, errors: dict[str, list[str]]) -> None:
    top: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if name.startswith("guests-"):
            _, index, field = name.split("-", 2)
            entry = form.guests.entries[int(index)].form
            entry[field].errors = [*entry[field].errors, *messages]
        else:
            top[name] = messages
    attach_errors(form, top)


def _flash_invites(result: services.InviteResult) -> None:
    if result.sent:
        flash(
            ngettext(
                "Invite sent to %(emails)s.",
                "Invites sent to %(emails)s.",
                len(result.sent),
                emails=", ".join(result.sent),
            ),
            "success",
        )
    if result.limited:
        flash(
            _(
                "Your account has sent as many invites as it may in an hour; the others were not sent. "
                "Use Resend invite later."
            ),
            "error",
        )
    elif result.failed:
        flash(
            ngettext(
                "The invite to %(emails)s could not be sent (the mail server did not accept it). "
                "Use Resend invite to try again.",
                "The invites to %(emails)s could not be sent (the mail server did not accept them). "
                "Use Resend invite to try again.",
                len(result.failed),
                emails=", ".join(result.failed),
            ),
            "error",
        )


def _when(conference: Conference) -> str:
    local = conference.starts_at.astimezone(services.user_zone(g.user))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _dial_in() -> dict[str, list[str]]:
    s = _settings()
    return _dial_in_of(s.conference_numbers, s.conference_tollfree_numbers)


@functools.lru_cache(maxsize=8)
def _dial_in_of(numbers: str, toll_free: str) -> dict[str, list[str]]:
    """The settings' dial-in numbers as shown (formatted once per process: issue 16, CPU)."""
    return {
        "numbers": [display_number(n) for n in conference_service.numbers(numbers)],
        "toll_free": [display_number(n) for n in conference_service.numbers(toll_free)],
    }


_TIME_CHOICES = frozenset(services.time_choices())


def _render(
    form: ConferenceForm, conference: Conference | None, *, status: int = 200, focus: int | None = None
):
    phones = services.admin_phones(db(), g.user)
    form.admin_phone.choices = choices.options((n, n) for n in phones)
    current_time = form.time.data
    if current_time and current_time not in _TIME_CHOICES and len(current_time) == 5:
        form.time.choices = choices.options(
            [(current_time, current_time)] + [(t, t) for t in services.time_choices()]
        )
    duration = form.duration.data or ""
    if duration.isdigit() and int(duration) not in services.DURATIONS:
        minutes = int(form.duration.data)
        form.duration.choices = choices.options(
            [(str(minutes), duration_label(minutes))]
            + [(str(m), duration_label(m)) for m in services.DURATIONS]
        )
    guests = {str(x.id): x for x in conference.guests} if conference is not None else {}
    tz = services.user_zone(g.user)
    today = dt.datetime.now(tz).date()
    return render_template(
        "conference/schedule.html",
        form=form,
        conference=conference,
        guests=guests,
        zone=tz.key,
        today=today.isoformat(),
        last_day=(today + services.MAX_AHEAD - dt.timedelta(days=1)).isoformat(),
        dial_in=_dial_in(),
        focus=focus,
        guest_rows=_guest_rows(form, focus),
    ), status


_GUEST_ROWS = "conference.blank_guest_rows"


def _guest_rows(form: ConferenceForm, focus: int | None) -> list[Markup | None]:
    """Each guest row's HTML when it is blank (no values, no errors, not focused): the same
    for every member of a language, so rendered once per row number (issue 16: CPU); None
    for the others (the template renders them)."""
    cache = current_app.extensions.setdefault(_GUEST_ROWS, {})
    language = str(get_locale())
    rows: list[Markup | None] = []
    for index, entry in enumerate(form.guests.entries):
        gf = entry.form
        blank = (
            index != focus
            and not gf.guest_id.data
            and not gf.virtual_number.data
            and not gf.name.data
            and not gf.email.data
            and gf.role.data == "normal"
            and not gf.send_invite.data
            and not any(f.errors for f in gf)
        )
        if not blank:
            rows.append(None)
            continue
        html = cache.get((language, index))
        if html is None:
            guest_row = get_template_attribute("conference/_guest.html", "guest_row")
            html = cache[(language, index)] = Markup(guest_row(gf, index, None, focus, None))
        rows.append(html)
    return rows
