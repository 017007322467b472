"""The member control panel: a Flask app factory, one blueprint per panel section.

After Flask's tutorial (flaskr) and Indico: `create_app(config)` builds a fresh app; every
section is a package with `views.py` (the blueprint), `forms.py`, `templates/<section>/`,
and declares its access policy once (see `webpanel.access`).

`config` may carry, besides Flask settings:
- `VOIP_SETTINGS`: a `controller.settings.Settings` (default: `controller.settings.load()`);
- `VOIP_ENGINE`: an SQLAlchemy Engine to share (tests); otherwise the app makes its own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from controller.settings import Settings, load
from webpanel import access, converters, database, errors, filters, i18n, metrics, nav, render_speed, security

csrf = CSRFProtect()

DEV_SECRET_KEY = "dev-only-change-me"  # controller/settings.py's default
IDLE_TIMEOUT = dt.timedelta(minutes=30)  # the default of VOIP_PANEL_IDLE_MINUTES


def create_app(config: dict[str, Any] | None = None) -> Flask:
    config = dict(config or {})
    settings: Settings = config.pop("VOIP_SETTINGS", None) or load()
    engine = config.pop("VOIP_ENGINE", None)

    app = Flask(__name__)
    converters.init_app(app)  # issue 13 item 8: before any route is added
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="voip_panel",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_secure_cookie_default(settings),
        # The signed cookie carries its signing time and Flask refuses one older than this,
        # so the limit holds server-side too; re-signed (a sliding idle timeout) when the
        # session changed and whenever its panel_sessions row's last_seen_at is written, at
        # most once a minute (webpanel.access): not on every page (issue 16, CPU)
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.panel_idle_minutes),  # issue 13
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_ENABLED=True,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        # a form's text fields (Flask's default is 500 kB): the admin's Bulk Import carries a
        # pasted or dry-run CSV of up to 2 MB (webpanel/admin/bulk.py MAX_BYTES) in one field
        MAX_FORM_MEMORY_SIZE=4 * 1024 * 1024,
    )
    app.config.from_mapping(config)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    _refuse_dev_secret_in_production(app)

    app.extensions["voip_settings"] = settings
    metrics.init_app(app)  # issue 17: first, so its clock starts before the other hooks
    database.init_app(app, settings, engine=engine)
    csrf.init_app(app)
    render_speed.init_app(app)  # issue 16: forms' markup, CSRF token, templates' globals
    security.init_app(app)
    access.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    i18n.init_app(app)
    nav.init_app(app)

    from webpanel.account.views import bp as account_bp
    from webpanel.admin import bp as admin_bp
    from webpanel.api.views import bp as api_bp
    from webpanel.auth.views import bp as auth_bp
    from webpanel.buddies.views import bp as buddies_bp
    from webpanel.call_history.views import bp as call_history_bp
    from webpanel.conference.views import bp as conference_bp
    from webpanel.dids.views import bp as dids_bp
    from webpanel.faxes.views import bp as faxes_bp
    from webpanel.forwarding.views import bp as forwarding_bp
    from webpanel.health.views import bp as health_bp
    from webpanel.home.views import bp as home_bp
    from webpanel.invoices.views import bp as invoices_bp  # issue 15
    from webpanel.limits.views import bp as limits_bp  # issue 13, spending limits
    from webpanel.missed_calls.views import bp as missed_calls_bp
    from webpanel.notepad.views import bp as notepad_bp
    from webpanel.notifications.views import bp as notifications_bp  # issue 16
    from webpanel.password.views import bp as password_bp
    from webpanel.phone_setup.views import bp as phone_setup_bp  # issue 16
    from webpanel.plans.views import bp as plans_bp
    from webpanel.rate_lookup.views import bp as rate_lookup_bp
    from webpanel.recharge.views import bp as recharge_bp
    from webpanel.registered.views import bp as registered_bp
    from webpanel.twofactor.views import bp as twofactor_bp  # issue 16, two-factor login
    from webpanel.twofactor.views import login_bp as twofactor_login_bp
    from webpanel.virtual_number.views import bp as virtual_number_bp
    from webpanel.voicemail.views import bp as voicemail_bp
    from webpanel.webhooks.views import bp as webhooks_bp  # issue 15
    from webpanel.white_pages.views import bp as white_pages_bp

    for bp in (
        auth_bp,
        health_bp,
        home_bp,
        account_bp,
        virtual_number_bp,
        registered_bp,
        phone_setup_bp,
        forwarding_bp,
        call_history_bp,
        faxes_bp,
        white_pages_bp,
        plans_bp,
        dids_bp,
        conference_bp,
        voicemail_bp,
        missed_calls_bp,
        notepad_bp,
        rate_lookup_bp,
        buddies_bp,
        recharge_bp,
        limits_bp,
        invoices_bp,
        webhooks_bp,
        notifications_bp,
        password_bp,
        twofactor_bp,
        twofactor_login_bp,
        api_bp,
        admin_bp,
    ):
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # signed by the payment portal, no browser session (webpanel.api)
    from webpanel import restapi  # issue 15: the REST API under /api/v1 (bearer tokens, no session)

    restapi.init_app(app)
    access.check_every_blueprint_declares_access(app)
    return app


def _secure_cookie_default(settings: Settings) -> bool:
    """Secure cookies unless the panel serves plain http on loopback (the dev sandbox).

    `Settings.panel_secure_cookie` (env VOIP_PANEL_SECURE_COOKIE: yes/no/auto) wins;
    `create_app({"SESSION_COOKIE_SECURE": ...})` wins over both.
    """
    explicit = settings.panel_secure_cookie.strip().lower()
    if explicit in ("1", "yes", "true", "on"):
        return True
    if explicit in ("0", "no", "false", "off"):
        return False
    if settings.panel_url.strip().lower().startswith("https://"):
        return True  # issue 13: members reach the panel over https (behind a TLS proxy)
    return not _is_loopback(settings.panel_host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_dev_secret_in_production(app: Flask) -> None:
    # Anyone who knows the key can forge a session cookie for any user.
    if app.config["SESSION_COOKIE_SECURE"] and app.config["SECRET_KEY"] == DEV_SECRET_KEY and not app.testing:
        raise RuntimeError(
            "VOIP_SECRET_KEY is the development default; set a real secret "
            "before serving the panel beyond loopback."
        )
