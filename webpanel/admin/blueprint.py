"""The operator admin's one blueprint under /admin, for role admin only (members get 403 on
every route, whatever object it names), and the helpers its view modules share.

The view modules (views, catalog_views, dialplan_views, mail_views) import this module and register their
routes on `bp`; the package (webpanel/admin/__init__.py) imports them all."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, request
from sqlalchemy import Select, func, select

from controller.settings import Settings
from webpanel import access
from webpanel.admin import services
from webpanel.database import db

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
access.restrict(bp, access.ADMIN)

T = TypeVar("T")


def remote() -> str:
    return request.remote_addr or ""


def settings() -> Settings:
    return current_app.extensions["voip_settings"]


def page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        return 1


def paged(query: Select[Any], page: int) -> tuple[list[Any], int]:
    """One page of `query` and the number of pages."""
    total = db().scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // services.PAGE_SIZE))
    page = min(page, pages)
    rows = db().execute(query.limit(services.PAGE_SIZE).offset((page - 1) * services.PAGE_SIZE)).all()
    return list(rows), pages


def get_or_404(model: type[T], ident: Any) -> T:
    obj = db().get(model, ident)
    if obj is None:
        abort(404)
    return obj


def form_errors(form: Any) -> list[str]:
    return [str(e) for errors in form.errors.values() for e in errors]
