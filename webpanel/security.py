"""Security headers on every response.

The Content-Security-Policy allows scripts, styles and images from our own origin only:
no inline <script>, no inline <style>, no style="" attributes in templates.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), payment=()",
}


def init_app(app: Flask) -> None:
    trust_proxies(app)
    app.after_request(add_security_headers)


def trust_proxies(app: Flask) -> None:
    """Behind VOIP_PANEL_TRUSTED_PROXIES reverse proxies (a TLS proxy: 1), the client address
    and the scheme come from their X-Forwarded-For / X-Forwarded-Proto; without that setting
    the headers are ignored (anyone can send them), so neither the login limits per address nor
    the Secure cookie can be fooled by a client."""
    settings = app.extensions.get("voip_settings")
    hops = int(getattr(settings, "panel_trusted_proxies", 0) or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config.get("SESSION_COOKIE_SECURE") or request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # pages show account data: never keep them in a shared or back-button cache
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
