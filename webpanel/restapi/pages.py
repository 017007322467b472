"""The member's "API Tokens" page (/api-tokens/): the primary account holder creates tokens for
their account (scope read or member), sees each one once, and revokes them. A secondary user
sees the page but cannot make tokens (the API speaks for the whole account)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from db import api_tokens as tokens
from db.errors import ServiceError
from db.models import ApiToken
from webpanel import access
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.restapi.forms import RevokeForm, TokenForm

bp = Blueprint("api_tokens", __name__, url_prefix="/api-tokens", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


def _form() -> TokenForm:
    form = TokenForm()
    form.set_scopes(tokens.scopes_for(g.user))
    return form


def _render(form: TokenForm, *, created: str | None = None, status: int = 200):
    mine = tokens.tokens_of(db(), g.user.id) if g.user.role == access.PRIMARY else []
    return render_template(
        "api_tokens/index.html",
        form=form,
        revoke_form=RevokeForm(),
        tokens=mine,
        state=tokens.state,
        created=created,
        may_create=g.user.role == access.PRIMARY,
        revoke_url=url_for(".revoke"),
        show_owner=False,
        owners={},
    ), status


@bp.get("/")
def index():
    return _render(_form())


@bp.post("/")
@access.roles_required(access.PRIMARY)
def create():
    form = _form()
    if not form.validate_on_submit():
        return _render(form, status=400)
    try:
        with writing():
            row, secret = tokens.create(
                db(),
                g.user,
                name=form.name.data or "",
                scope=form.scope.data or "",
                expires_in_days=form.expires_in_days.data,
                remote_addr=request.remote_addr or "",
            )
    except ServiceError as exc:
        form.name.errors = [*form.name.errors, str(exc)]
        return _render(form, status=400)
    flash(_("Token %(name)s was created. Copy it now: it is shown only this once.", name=row.name), "success")
    return _render(_form_blank(), created=secret)


def _form_blank() -> TokenForm:
    form = TokenForm(formdata=None)
    form.set_scopes(tokens.scopes_for(g.user))
    return form


@bp.post("/revoke")
@access.roles_required(access.PRIMARY)
def revoke():
    form = RevokeForm()
    if not form.validate_on_submit():
        return redirect(url_for(".index"))
    token = db().scalar(
        select(ApiToken).where(ApiToken.id == form.token_id.data, ApiToken.user_id == g.user.id)
    )
    if token is None:
        return _render(_form_blank(), status=404)
    with writing():
        done = tokens.revoke(db(), g.user, token, remote_addr=request.remote_addr or "")
    if done:
        flash(_("Token %(name)s was revoked: it opens nothing any more.", name=token.name), "success")
    return redirect(url_for(".index"))
