"""Issue 13 item 8: a 500 is the panel's own page, with the security headers of every response,
even when the failure left the request's database transaction aborted."""

from __future__ import annotations

import pytest
from flask import Blueprint
from sqlalchemy import text

from webpanel import access, create_app
from webpanel.database import db
from webpanel.security import HEADERS

from .conftest import sign_in


@pytest.fixture()
def failing_app(database, engine):
    """The real panel as served (exceptions answered, not propagated to the caller), plus one
    page whose query PostgreSQL refuses: the transaction is aborted when the 500 page renders."""
    app = create_app(
        {"TESTING": True, "PROPAGATE_EXCEPTIONS": False, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine}
    )
    bp = Blueprint("failing", __name__)
    access.restrict(bp, *access.EVERYONE)

    @bp.get("/failing/query")
    def query():
        db().execute(text("SELECT no_such_column FROM users"))
        return "unreachable"

    @bp.get("/failing/python")
    def python():
        raise RuntimeError("a bug")

    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize("path", ["/failing/query", "/failing/python"])
def test_a_500_is_the_panels_page_with_the_security_headers(failing_app, make_member, path):
    client = failing_app.test_client()
    sign_in(client, make_member())
    response = client.get(path)
    assert response.status_code == 500
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers.get("Cache-Control") == "no-store"
    assert "Something went wrong" in response.get_data(as_text=True)
    # the session's connection went back clean: the next page works
    assert client.get("/").status_code == 200
