"""Security headers, cookie flags, CSP-clean pages, the access-policy guard, /healthz."""

from __future__ import annotations

import dataclasses
import re
import socket

import pytest
from flask import Blueprint

from webpanel import access, create_app

from .conftest import log_in

EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@pytest.mark.parametrize(
    "path", ["/login", "/", "/registered-users/", "/healthz", "/no-such-page", "/static/panel.css"]
)
def test_security_headers_are_on_every_response(client, make_member, path):
    member = make_member()
    log_in(client, member.login, member.password)
    response = client.get(path)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


def test_pages_with_account_data_are_not_cached(client, make_member):
    member = make_member()
    log_in(client, member.login, member.password)
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_samesite_lax_and_plain_http_on_loopback(client, make_member):
    member = make_member()
    response = log_in(client, member.login, member.password)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("voip_panel="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the sandbox serves http://127.0.0.1
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_is_secure_when_configured(database, engine, make_member):
    app = create_app(
        {"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine, "SESSION_COOKIE_SECURE": True}
    )
    client = app.test_client()
    response = client.get("/login")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("voip_panel="))
    assert "Secure" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_secure_cookies_are_the_default_off_loopback(database, engine):
    settings = dataclasses.replace(database, panel_host="0.0.0.0")
    app = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def _session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("voip_panel="))


def test_session_cookie_is_secure_behind_a_tls_proxy_when_the_public_url_is_https(
    database, engine, make_member, factory
):
    """The panel on loopback http behind a TLS proxy (VOIP_PANEL_URL https://..., one trusted
    proxy): the cookie is Secure, HttpOnly, SameSite=Lax, and the client's address is the
    forwarded one."""
    from sqlalchemy import select

    from db.models import PanelSession

    settings = dataclasses.replace(database, panel_url="https://panel.example.test", panel_trusted_proxies=1)
    client = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine}).test_client()
    client.environ_base.update(
        {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_FORWARDED_PROTO": "https",
            "HTTP_X_FORWARDED_FOR": "203.0.113.50",
            # over https Flask-WTF wants a same-origin Referer, as a browser sends it
            "HTTP_REFERER": "https://localhost/login",
        }
    )
    member = make_member()
    response = log_in(client, member.login, member.password)
    assert response.status_code == 302
    cookie = _session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with factory() as s:
        [row] = s.scalars(select(PanelSession).where(PanelSession.user_id == member.user_id)).all()
    assert row.remote_addr == "203.0.113.50"


def test_forwarded_https_makes_the_cookie_secure_only_behind_a_trusted_proxy(database, engine):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.51"}
    plain = create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine}).test_client()
    response = plain.get("/login", headers=headers)  # anyone can send the header: ignored
    assert "Secure" not in _session_cookie(response)
    assert "Strict-Transport-Security" not in response.headers

    proxied = dataclasses.replace(database, panel_trusted_proxies=1)
    app = create_app({"TESTING": True, "VOIP_SETTINGS": proxied, "VOIP_ENGINE": engine})
    assert "Secure" not in _session_cookie(app.test_client().get("/login"))  # plain http via the proxy
    assert "Secure" in _session_cookie(app.test_client().get("/login", headers=headers))


def test_panel_refuses_the_development_secret_key_off_loopback(database, engine):
    settings = dataclasses.replace(database, panel_host="0.0.0.0", secret_key="dev-only-change-me")
    with pytest.raises(RuntimeError, match="VOIP_SECRET_KEY"):
        create_app({"VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})


@pytest.mark.parametrize("path", ["/login", "/", "/registered-users/", "/no-such-page"])
def test_pages_carry_no_inline_script_or_style(client, make_member, path):
    """The CSP blocks inline code; a page that relied on it would silently break."""
    member = make_member()
    log_in(client, member.login, member.password)
    html = client.get(path).get_data(as_text=True)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)  # onclick= and friends


def test_create_app_refuses_a_blueprint_without_an_access_policy(app):
    app.register_blueprint(Blueprint("forgotten", __name__))
    with pytest.raises(RuntimeError, match="forgotten"):
        access.check_every_blueprint_declares_access(app)


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip() == "ok"


def test_healthz_answers_503_when_the_database_is_unreachable(database):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    app = create_app({"TESTING": True, "VOIP_SETTINGS": dataclasses.replace(database, db_port=dead_port)})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_login_answers_503_not_a_crash_when_the_database_is_unreachable(database):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    app = create_app(
        {
            "TESTING": True,
            "VOIP_SETTINGS": dataclasses.replace(database, db_port=dead_port),
            "WTF_CSRF_ENABLED": False,
        }
    )
    response = app.test_client().post("/login", data={"login": "17000000000", "password": "x"})
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.get_data(as_text=True)
