"""The help page's "Buddy List": add, edit and delete the user's contacts."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for

from db.errors import ServiceError
from db.models import Buddy
from webpanel import access
from webpanel.buddies import services
from webpanel.buddies.forms import BuddyForm
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.validation import FieldErrors, attach_errors

bp = Blueprint("buddies", __name__, url_prefix="/buddies", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    return render_template("buddies/index.html", buddies=services.buddies(db(), g.user))


@bp.route("/add", methods=["GET", "POST"])
def add():
    form = BuddyForm()
    if form.is_submitted():
        if _save(form, None):
            flash(_("%(name)s was added to your Buddy List.", name=form.name.data), "success")
            return redirect(url_for(".index"))
        return render_template("buddies/edit.html", form=form, buddy=None), 400
    return render_template("buddies/edit.html", form=form, buddy=None)


@bp.route("/<int:buddy_id>/edit", methods=["GET", "POST"])
def edit(buddy_id: int):
    buddy = access.owned_or_404(Buddy, buddy_id)
    form = BuddyForm(obj=buddy)
    if form.is_submitted():
        if _save(form, buddy):
            flash(_("%(name)s was saved.", name=buddy.name), "success")
            return redirect(url_for(".index"))
        return render_template("buddies/edit.html", form=form, buddy=buddy), 400
    return render_template("buddies/edit.html", form=form, buddy=buddy)


@bp.post("/<int:buddy_id>/delete")
def delete(buddy_id: int):
    buddy = access.owned_or_404(Buddy, buddy_id)  # CSRFProtect has checked the token
    name = buddy.name
    with writing():
        services.delete_buddy(db(), g.user, buddy)
    flash(_("%(name)s was deleted from your Buddy List.", name=name), "success")
    return redirect(url_for(".index"))


def _save(form: BuddyForm, buddy: Buddy | None) -> bool:
    form.validate()
    if form.csrf_token.errors:
        return False
    values = {
        "name": form.name.data or "",
        "virtual_number": form.virtual_number.data or "",
        "pstn_phone": form.pstn_phone.data or "",
    }
    try:
        with writing() as write:
            if buddy is None:
                services.add_buddy(db(), g.user, **values)
            else:
                services.update_buddy(db(), g.user, buddy, **values)
            if form.errors:
                write.discard()
                return False
    except FieldErrors as exc:
        attach_errors(form, exc.errors)
        return False
    except ServiceError as exc:
        form.form_errors.append(service_message(exc))
        return False
    return True
