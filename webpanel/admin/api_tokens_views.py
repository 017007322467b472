"""Operator admin: API Tokens (issue 15). An operator creates tokens for themself (scope read or
operator), each shown once, and revokes any token: an operator's or a member's (a leaked one).
The list shows every token, newest first, without its secret (only its prefix)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from sqlalchemy import select

from db import api_tokens as tokens
from db.errors import ServiceError
from db.models import ApiToken, User
from webpanel.admin.blueprint import bp, remote
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.restapi.forms import RevokeForm, TokenForm

LISTED = 500


def _form(blank: bool = False) -> TokenForm:
    form = TokenForm(formdata=None) if blank else TokenForm()
    form.set_scopes(tokens.OPERATOR_SCOPES)
    return form


def _render(form: TokenForm, *, created: str | None = None, status: int = 200):
    rows = list(db().scalars(select(ApiToken).order_by(ApiToken.id.desc()).limit(LISTED)))
    owner_ids = {t.user_id for t in rows}
    owners = (
        dict(db().execute(select(User.id, User.login).where(User.id.in_(owner_ids))).tuples().all())
        if owner_ids
        else {}
    )
    return render_template(
        "admin/api_tokens.html",
        form=form,
        tokens=rows,
        state=tokens.state,
        created=created,
        revoke_url=url_for("admin.api_token_revoke"),
        show_owner=True,
        owners=owners,
    ), status


@bp.get("/api-tokens/")
def api_tokens():
    return _render(_form(blank=True))


@bp.post("/api-tokens/")
def api_token_new():
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
                remote_addr=remote(),
            )
    except ServiceError as exc:
        form.name.errors = [*form.name.errors, str(exc)]
        return _render(form, status=400)
    flash(_("Token %(name)s was created. Copy it now: it is shown only this once.", name=row.name), "success")
    return _render(_form(blank=True), created=secret)


@bp.post("/api-tokens/revoke")
def api_token_revoke():
    form = RevokeForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.api_tokens"))
    token = db().get(ApiToken, form.token_id.data)
    if token is None:
        return _render(_form(blank=True), status=404)
    with writing():
        done = tokens.revoke(db(), g.user, token, remote_addr=remote())
    if done:
        flash(_("Token %(name)s was revoked: it opens nothing any more.", name=token.name), "success")
    return redirect(url_for("admin.api_tokens"))
