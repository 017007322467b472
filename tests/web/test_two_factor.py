"""Two-factor login (issue 16) on the real database: enrolment through the page (the QR code
the page emits is decoded with zxing-cpp), the login's code step (right, wrong, replayed,
recovery codes, lockout, expiry), remembered browsers, admins forced to enrol, and the
new-browser email over real SMTP (aiosmtpd)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from html import unescape

import pyotp
import pytest
import zxingcpp
from PIL import Image, ImageDraw
from sqlalchemy import delete, func, select, update

from db import accounts
from db.models import AuditLog, Lockout, User, UserDevice, UserRecoveryCode
from db.session import transaction
from tests.support.smtp import smtp_server  # noqa: F401
from tests.support.wait import until_sync
from webpanel import create_app
from webpanel.auth import mailbox
from webpanel.twofactor import services, views

from .conftest import (
    _TEMPLATES,
    PASSWORD,
    csrf_token,
    errors_in,
    flashes,
    log_in,
    log_out,
    next_address,
    sign_in,
)

ISSUER = "Two-Factor Test Operator"


@pytest.fixture()
def app(database, engine):
    settings = dataclasses.replace(database, operator_name=ISSUER)
    app = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})
    app.jinja_env.bytecode_cache = _TEMPLATES
    return app


@pytest.fixture(autouse=True)
def _background_mail_done_after_each_test():
    """Emails go out after the answer: none may reach the next test's SMTP server."""
    yield
    assert mailbox.drain(30), "background jobs still running"


def new_client(app, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = next_address()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def qr_text(svg: str) -> str:
    """Decode the page's inline SVG QR code: draw segno's path (rows of horizontal runs) into
    an image, then read it with zxing-cpp, as a phone's camera would read the screen."""
    d = re.search(r' d="([^"]+)"', svg).group(1)
    width = int(re.search(r'width="(\d+)"', svg).group(1))
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))
    px = 8
    size = width // scale
    image = Image.new("L", (size * px, size * px), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for cmd, a, b in re.findall(r"([MmHhVv])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", d):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        elif cmd in "hH":
            end = x + float(a) if cmd == "h" else float(a)
            draw.rectangle([x * px, (y - 0.5) * px, end * px - 1, (y + 0.5) * px - 1], fill=0)
            x = end
        else:
            raise AssertionError(f"unexpected SVG path command {cmd}")
    found = zxingcpp.read_barcodes(image)
    assert found, "no QR code decoded"
    return found[0].text


def secret_on(html: str) -> str:
    return re.search(r'<code id="totp-secret"[^>]*>([^<]+)</code>', html).group(1).replace(" ", "")


def codes_on(html: str) -> list[str]:
    block = re.search(r'<ul class="recovery-codes" id="recovery-codes">(.*?)</ul>', html, re.S).group(1)
    return re.findall(r"<code>([^<]+)</code>", block)


def enrol(client) -> tuple[str, list[str]]:
    """Turn 2FA on through the page of a signed-in client; returns (secret, recovery codes)."""
    assert (
        client.post("/two-factor/enrol", data={"csrf_token": csrf_token(client, "/two-factor/")}).status_code
        == 303
    )
    html = client.get("/two-factor/").get_data(as_text=True)
    secret = secret_on(html)
    # the previous step's code (accepted: one step either side): the tests' logins then use
    # the current and the next step's codes, each once
    response = client.post(
        "/two-factor/confirm",
        data={"csrf_token": csrf_token(client, "/two-factor/"), "code": step_code(secret, -1)},
    )
    assert response.status_code == 200, errors_in(response)
    return secret, codes_on(response.get_data(as_text=True))


def enrolled_member(app, make_member, **fields):
    member = make_member(**fields)
    client = new_client(app)
    sign_in(client, member)
    secret, codes = enrol(client)
    return member, secret, codes


def send_code(client, code: str, remember: bool = False):
    data = {"csrf_token": csrf_token(client, "/login/code"), "code": code}
    if remember:
        data["remember"] = "y"
    return client.post("/login/code", data=data)


def step_code(secret: str, offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(dt.datetime.now(dt.UTC)) + offset)


def wrong_code(secret: str) -> str:
    """Six digits that are no code of the steps around now."""
    near = {step_code(secret, k) for k in (-2, -1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 1000000, 7919)) if c not in near)


def logged_in(client) -> bool:
    return client.get("/").status_code == 200


def actions(factory, user_id: int) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(select(AuditLog.action).where(AuditLog.actor_user_id == user_id).order_by(AuditLog.id))
        )


# --- enrolment -----------------------------------------------------------------------------------


def test_enrolment_qr_decodes_to_an_otpauth_uri_whose_codes_turn_two_factor_on(
    app, make_member, factory, database
):
    member = make_member()
    client = new_client(app)
    sign_in(client, member)
    page = client.get("/two-factor/").get_data(as_text=True)
    assert "Two-factor login is off" in page
    assert (
        client.post("/two-factor/enrol", data={"csrf_token": csrf_token(client, "/two-factor/")}).status_code
        == 303
    )

    html = client.get("/two-factor/").get_data(as_text=True)
    svg = re.search(r'<div class="qr" id="totp-qr">(.*?)</div>', html, re.S).group(1)
    uri = unescape(qr_text(svg))
    totp = pyotp.parse_uri(uri)
    assert uri.startswith("otpauth://totp/")
    assert totp.issuer == ISSUER and totp.name == member.login
    assert totp.secret == secret_on(html)

    # a wrong code leaves it off
    wrong = client.post(
        "/two-factor/confirm",
        data={"csrf_token": csrf_token(client, "/two-factor/"), "code": wrong_code(totp.secret)},
    )
    assert wrong.status_code == 400
    assert "That code is not right." in " ".join(errors_in(wrong))
    with factory() as s:
        assert s.get_one(User, member.user_id).totp_enabled_at is None

    # the QR's secret makes the codes that turn it on
    response = client.post(
        "/two-factor/confirm", data={"csrf_token": csrf_token(client, "/two-factor/"), "code": totp.now()}
    )
    assert response.status_code == 200
    codes = codes_on(response.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)

    with factory() as s:
        user = s.get_one(User, member.user_id)
        assert user.totp_enabled_at is not None
        # encrypted at rest, bound to the row, opened only with the panel's key
        assert totp.secret not in user.totp_secret_enc
        assert services.decrypt_secret(database.secret_key, user.id, user.totp_secret_enc) == totp.secret
        assert services.decrypt_secret(database.secret_key, user.id + 1, user.totp_secret_enc) is None
        assert services.decrypt_secret("another key", user.id, user.totp_secret_enc) is None
        hashes = s.scalars(
            select(UserRecoveryCode.code_hash).where(UserRecoveryCode.user_id == user.id)
        ).all()
        assert len(hashes) == 10 and all(h.startswith("$argon2") for h in hashes)
        audit = s.scalars(
            select(AuditLog).where(AuditLog.actor_user_id == user.id, AuditLog.action == "user.2fa_enabled")
        ).one()
        assert audit.remote_addr == client.environ_base["REMOTE_ADDR"]
    assert "Two-factor login is on" in client.get("/two-factor/").get_data(as_text=True)
    assert "user.2fa_enrol_failed" in actions(factory, member.user_id)


def test_regenerated_recovery_codes_replace_the_old_ones(app, make_member, factory):
    member, secret, old_codes = enrolled_member(app, make_member)
    client = new_client(app)
    sign_in(client, member)
    response = client.post(
        "/two-factor/recovery-codes",
        data={"csrf_token": csrf_token(client, "/two-factor/"), "regen-code": step_code(secret)},
    )
    assert response.status_code == 200, errors_in(response)
    new_codes = codes_on(response.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    log_out(client)
    log_in(client, member.login, PASSWORD)
    assert send_code(client, old_codes[0]).status_code == 400
    assert send_code(client, new_codes[0]).status_code == 302
    assert logged_in(client)


# --- the login's code step ------------------------------------------------------------------------


def test_login_with_two_factor_asks_for_a_code_and_logs_in_only_with_it(app, make_member, factory):
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app)
    response = log_in(client, member.login, PASSWORD, next_url="/password/")
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    assert not logged_in(client)  # the password alone opens nothing
    response = send_code(client, step_code(secret))
    assert response.status_code == 302 and response.headers["Location"] == "/password/"
    assert logged_in(client)
    assert actions(factory, member.user_id)[-3:] == ["auth.2fa_required", "auth.2fa_ok", "auth.login"]
    with factory() as s:
        ok = s.scalars(
            select(AuditLog).where(AuditLog.actor_user_id == member.user_id, AuditLog.action == "auth.2fa_ok")
        ).one()
    assert ok.remote_addr == client.environ_base["REMOTE_ADDR"] and ok.details == {"with": "totp"}


def test_a_wrong_code_is_refused_with_a_clear_message_and_counted(app, make_member, factory):
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    response = send_code(client, wrong_code(secret))
    assert response.status_code == 400
    assert errors_in(response) == [
        "That code is not right. Check that your phone's clock is correct and try again."
    ]
    assert not logged_in(client)
    with factory() as s:
        count = s.scalar(
            select(Lockout.failures).where(
                Lockout.kind == services.KIND_CODE, Lockout.key == services._attempt_key(member.user_id)
            )
        )
    assert count == 1
    assert "auth.2fa_failed" in actions(factory, member.user_id)
    # still in the code step: the right code now works, and clears the count
    assert send_code(client, step_code(secret)).status_code == 302
    assert logged_in(client)
    with factory() as s:
        assert (
            s.scalar(
                select(Lockout.failures).where(
                    Lockout.kind == services.KIND_CODE, Lockout.key == services._attempt_key(member.user_id)
                )
            )
            is None
        )


def test_five_wrong_codes_lock_the_code_step_even_for_the_right_code(app, make_member):
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    for _attempt in range(services.CODE_LIMIT):
        assert send_code(client, wrong_code(secret)).status_code == 400
    log_in(client, member.login, PASSWORD)
    response = send_code(client, step_code(secret))
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert any("Too many wrong codes" in f for f in flashes(client.get("/login")))
    assert not logged_in(client)


def test_a_code_already_used_is_refused_replay(app, make_member, factory):
    member, secret, _ = enrolled_member(app, make_member)
    code = step_code(secret, 1)  # a step the enrolment's code did not use
    first = new_client(app)
    log_in(first, member.login, PASSWORD)
    assert send_code(first, code).status_code == 302
    second = new_client(app)
    log_in(second, member.login, PASSWORD)
    response = send_code(second, code)
    assert response.status_code == 400
    assert errors_in(response) == ["That code was already used. Wait for the next code in your app."]
    assert not logged_in(second)
    # an older step than the last accepted one is a replay too
    assert send_code(second, step_code(secret, -1)).status_code == 400


def test_a_recovery_code_logs_in_once(app, make_member, factory):
    member, _secret, codes = enrolled_member(app, make_member)
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    assert send_code(client, codes[3].upper().replace("-", " ")).status_code == 302  # typed loosely
    assert logged_in(client)
    log_out(client)
    log_in(client, member.login, PASSWORD)
    assert send_code(client, codes[3]).status_code == 400
    assert not logged_in(client)
    with factory() as s:
        left = s.scalars(
            select(UserRecoveryCode).where(
                UserRecoveryCode.user_id == member.user_id, UserRecoveryCode.used_at.is_(None)
            )
        ).all()
    assert len(left) == 9
    assert "Recovery codes left: 9." in _page_as(app, member)


def _page_as(app, member) -> str:
    client = new_client(app)
    sign_in(client, member)
    return client.get("/two-factor/").get_data(as_text=True)


def test_the_code_step_expires_after_five_minutes(app, make_member):
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    with client.session_transaction() as sess:
        pending = dict(sess[views.PENDING_KEY])
        pending["t"] = time.time() - 6 * 60
        sess[views.PENDING_KEY] = pending
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert flashes(client.get("/login")) == ["Your login waited too long for its code. Please log in again."]
    # a code typed then opens nothing
    with client.session_transaction() as sess:
        assert views.PENDING_KEY not in sess


def test_users_without_two_factor_log_in_with_the_password_alone(app, make_member):
    member = make_member()
    client = new_client(app)
    response = log_in(client, member.login, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert logged_in(client)


# --- remembered browsers ------------------------------------------------------------------------


def test_a_remembered_browser_skips_the_code_for_thirty_days(app, make_member, factory):
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    response = send_code(client, step_code(secret), remember=True)
    assert response.status_code == 302
    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(services.DEVICE_COOKIE + "=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    with factory() as s:
        device = s.scalars(
            select(UserDevice).where(
                UserDevice.user_id == member.user_id, UserDevice.remember_until.is_not(None)
            )
        ).one()
        assert device.token_hash == services.device_hash(token)  # only the hash is stored
        assert (
            dt.timedelta(days=29) < device.remember_until - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
        )

    log_out(client)
    response = log_in(client, member.login, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"  # no code step
    assert logged_in(client)
    with factory() as s:  # recorded as a login, and how the second factor was passed
        last = s.scalars(
            select(AuditLog)
            .where(AuditLog.actor_user_id == member.user_id, AuditLog.action == "auth.login")
            .order_by(AuditLog.id.desc())
            .limit(1)
        ).one()
    assert last.details == {"second_factor": "remembered"}
    assert not logged_in(new_client(app))

    # another browser still needs the code
    other = new_client(app)
    assert log_in(other, member.login, PASSWORD).headers["Location"] == "/login/code"

    # thirty days later it asks again
    with transaction(factory) as s:
        s.execute(
            update(UserDevice)
            .where(UserDevice.id == device.id)
            .values(remember_until=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    log_out(client)
    assert log_in(client, member.login, PASSWORD).headers["Location"] == "/login/code"


def test_a_password_change_forgets_remembered_browsers(app, make_member, factory):
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    assert send_code(client, step_code(secret), remember=True).status_code == 302
    new_password = "Another-pass-2027"
    response = client.post(
        "/password/",
        data={
            "csrf_token": csrf_token(client, "/password/"),
            "old_password": PASSWORD,
            "new_password": new_password,
            "retype": new_password,
        },
    )
    assert response.status_code == 302
    with factory() as s:
        assert s.scalars(
            select(UserDevice.remember_until).where(UserDevice.user_id == member.user_id)
        ).all() == [None]
    log_out(client)
    assert log_in(client, member.login, new_password).headers["Location"] == "/login/code"


def test_browsers_are_listed_and_forgotten(app, make_member, factory):
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app, user_agent="Mozilla/5.0 (Windows NT 10.0) Firefox/121.0")
    log_in(client, member.login, PASSWORD)
    assert send_code(client, step_code(secret), remember=True).status_code == 302
    html = client.get("/two-factor/").get_data(as_text=True)
    assert "Firefox / Windows" in html and "this browser" in html
    # each Forget button names its browser (a screen reader lists buttons out of their rows)
    assert re.search(r'>Forget<span class="visually-hidden"> Firefox / Windows, [\d.]+</span></button>', html)
    with factory() as s:
        device_id = s.scalars(select(UserDevice.id).where(UserDevice.user_id == member.user_id)).one()
    response = client.post(
        f"/two-factor/devices/{device_id}/forget", data={"csrf_token": csrf_token(client, "/two-factor/")}
    )
    assert response.status_code == 303
    with factory() as s:
        assert s.get(UserDevice, device_id) is None
    assert "user.device_forgotten" in actions(factory, member.user_id)
    # another member cannot forget this member's browser (404, not 403: ids are not probed)
    other = make_member()
    stranger = new_client(app)
    sign_in(stranger, other)
    log_out(client)
    log_in(client, member.login, PASSWORD)
    assert send_code(client, step_code(secret, 1), remember=True).status_code == 302
    with factory() as s:
        device_id = s.scalars(select(UserDevice.id).where(UserDevice.user_id == member.user_id)).one()
    refused = stranger.post(
        f"/two-factor/devices/{device_id}/forget", data={"csrf_token": csrf_token(stranger, "/two-factor/")}
    )
    assert refused.status_code == 404


# --- turning it off -----------------------------------------------------------------------------


def test_turning_off_needs_the_password_and_a_code_and_emails_the_member(
    app,
    make_member,
    factory,
    smtp_server,  # noqa: F811
):
    member, secret, _ = enrolled_member(app, make_member, email="twofa-off@example.test")
    until_sync(lambda: len(smtp_server.messages) >= 1, timeout=30, what="the 'on' email")
    assert smtp_server.messages[0].message["Subject"] == "Two-factor login is on"
    client = new_client(app)
    sign_in(client, member)
    wrong = client.post(
        "/two-factor/disable",
        data={
            "csrf_token": csrf_token(client, "/two-factor/"),
            "disable-password": "not-the-password",
            "disable-code": step_code(secret, 1),
        },
    )
    assert wrong.status_code == 400
    assert "Your password is not correct." in errors_in(wrong)
    with factory() as s:
        assert s.get_one(User, member.user_id).totp_enabled_at is not None
    response = client.post(
        "/two-factor/disable",
        data={
            "csrf_token": csrf_token(client, "/two-factor/"),
            "disable-password": PASSWORD,
            "disable-code": step_code(secret, 1),
        },
    )
    assert response.status_code == 303
    with factory() as s:
        user = s.get_one(User, member.user_id)
        assert user.totp_enabled_at is None and user.totp_secret_enc is None
        assert not s.scalars(select(UserRecoveryCode).where(UserRecoveryCode.user_id == user.id)).all()
    until_sync(lambda: len(smtp_server.messages) >= 2, timeout=30, what="the 'off' email")
    off = smtp_server.messages[1]
    assert off.message["Subject"] == "Two-factor login is off" and off.rcpt_tos == ["twofa-off@example.test"]
    assert member.login in off.message.get_content()
    assert "user.2fa_disabled" in actions(factory, member.user_id)
    log_out(client)
    assert log_in(client, member.login, PASSWORD).headers["Location"] == "/"


# --- the operator requires 2FA for admins ---------------------------------------------------------


@pytest.fixture()
def strict_app(database, engine):
    settings = dataclasses.replace(database, admin_2fa_required=True)
    app = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})
    app.jinja_env.bytecode_cache = _TEMPLATES
    return app


def test_an_admin_without_two_factor_is_sent_to_enrol_and_reaches_nothing_else(strict_app, factory):
    login_name, password = f"ops-2fa-{time.time_ns()}", "Admin-pass-2026"
    with transaction(factory) as s:
        accounts.create_admin(s, login_name, password)
    client = new_client(strict_app)
    response = log_in(client, login_name, password)
    assert response.status_code == 302
    for path in ("/", "/admin/", "/admin/accounts/", "/admin/audit/", "/admin/vouchers/", "/password/"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/two-factor/", path
    for method in ("HEAD", "OPTIONS"):  # no other verb slips past
        response = client.open("/admin/accounts/", method=method)
        assert response.status_code == 303 and response.headers["Location"] == "/two-factor/", method
    # a static file is no admin page: served
    assert client.get("/static/panel.css").status_code == 200
    posted = client.post("/admin/vouchers/new", data={"csrf_token": csrf_token(client, "/two-factor/")})
    assert posted.status_code == 303 and posted.headers["Location"] == "/two-factor/"
    page = client.get("/two-factor/")
    assert page.status_code == 200
    assert "The operator requires two-factor login for admins." in " ".join(flashes(page))

    secret, _codes = enrol(client)
    assert client.get("/admin/").status_code == 200
    # and from now on the admin's login asks for the code
    log_out(client)
    assert log_in(client, login_name, password).headers["Location"] == "/login/code"
    assert send_code(client, step_code(secret, 1)).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_without_the_operator_setting_admins_need_no_second_factor(app, factory):
    login_name, password = f"ops-no2fa-{time.time_ns()}", "Admin-pass-2026"
    with transaction(factory) as s:
        accounts.create_admin(s, login_name, password)
    client = new_client(app)
    log_in(client, login_name, password)
    assert client.get("/admin/").status_code == 200


# --- the new-browser email ------------------------------------------------------------------------


def test_a_login_from_a_new_browser_emails_the_member_once_per_browser(
    app,
    make_member,
    factory,
    smtp_server,  # noqa: F811
):
    member = make_member(email="new-browser@example.test", time_zone="Europe/Paris")
    first = new_client(app)
    assert log_in(first, member.login, PASSWORD).status_code == 302
    assert mailbox.drain(30)
    assert smtp_server.messages == []  # the account's first browser: nothing to warn about

    phone = new_client(app, user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
    assert log_in(phone, member.login, PASSWORD).status_code == 302
    until_sync(lambda: len(smtp_server.messages) >= 1, timeout=30, what="the new-browser email")
    mail = smtp_server.messages[0]
    assert mail.rcpt_tos == ["new-browser@example.test"]
    assert mail.message["Subject"] == "New sign-in to your account"
    body = mail.message.get_content()
    assert phone.environ_base["REMOTE_ADDR"] in body
    assert "Safari / iOS" in body
    assert "Europe/Paris" in body
    assert "change your password" in body

    # the same browsers again: no more email
    for client in (first, phone):
        log_out(client)
        assert log_in(client, member.login, PASSWORD).status_code == 302
    assert mailbox.drain(30)
    assert len(smtp_server.messages) == 1

    # a third browser: a second email
    assert log_in(new_client(app), member.login, PASSWORD).status_code == 302
    until_sync(lambda: len(smtp_server.messages) >= 2, timeout=30, what="the second new-browser email")
    assert mailbox.drain(30)
    assert len(smtp_server.messages) == 2
    assert actions(factory, member.user_id).count("auth.new_device") == 2


# --- the rules, as pure functions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "last", "verdict"),
    [
        (0, None, services.Verdict.OK),
        (-1, None, services.Verdict.OK),
        (1, None, services.Verdict.OK),
        (-2, None, services.Verdict.WRONG),  # older than one step: no
        (2, None, services.Verdict.WRONG),
        (0, 0, services.Verdict.REPLAY),  # this step already used
        (-1, 0, services.Verdict.REPLAY),  # an older step than the last used one
        (1, 0, services.Verdict.OK),
    ],
)
def test_a_code_is_good_within_one_step_and_once(offset, last, verdict):
    secret = pyotp.random_base32()
    now = dt.datetime(2026, 12, 5, 12, 0, 10, tzinfo=dt.UTC)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    got, _step = services.match_step(
        secret, totp.generate_otp(step + offset), None if last is None else step + last, now
    )
    assert got is verdict


def test_the_secret_is_sealed_per_row_and_key():
    sealed = services.encrypt_secret("key one", 7, "JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in sealed and len(sealed) <= 255
    assert services.decrypt_secret("key one", 7, sealed) == "JBSWY3DPEHPK3PXP"
    assert services.decrypt_secret("key one", 8, sealed) is None
    assert services.decrypt_secret("key two", 7, sealed) is None
    assert services.decrypt_secret("key one", 7, sealed[:-4] + "AAAA") is None


@pytest.mark.parametrize(
    ("language", "title", "button"),
    [
        ("es", "Inicio de sesión en dos pasos", "Configurar el inicio de sesión en dos pasos"),
        ("fr", "Connexion en deux étapes", "Configurer la connexion en deux étapes"),
    ],
)
def test_the_page_is_in_the_members_language(app, make_member, language, title, button):
    member = make_member(language=language)
    client = new_client(app)
    sign_in(client, member)
    html = unescape(client.get("/two-factor/").get_data(as_text=True))
    assert title in html and button in html


def test_the_operator_turns_two_factor_off_for_a_member_who_lost_everything(
    app, make_member, factory, database, monkeypatch
):
    from click.testing import CliRunner

    from controller import cli

    member, _secret, _codes = enrolled_member(app, make_member)
    for f in dataclasses.fields(database):
        if f.name.startswith("db_"):
            monkeypatch.setenv(f"VOIP_{f.name.upper()}", str(getattr(database, f.name)))
    result = CliRunner().invoke(cli.main, ["user", "2fa-reset", member.login])
    assert result.exit_code == 0, result.output
    assert "turned off" in result.output
    with factory() as s:
        user = s.get_one(User, member.user_id)
        assert user.totp_enabled_at is None and user.totp_secret_enc is None
        reset = s.scalars(
            select(AuditLog).where(AuditLog.object_id == str(user.id), AuditLog.action == "user.2fa_reset")
        ).one()
        assert reset.remote_addr == "voipctl" and reset.details == {"was_on": True}
    client = new_client(app)
    assert log_in(client, member.login, PASSWORD).headers["Location"] == "/"
    assert CliRunner().invoke(cli.main, ["user", "2fa-reset", "no-such-login"]).exit_code != 0


def test_over_https_the_device_cookie_is_secure_too(app, make_member):
    member = make_member()
    client = new_client(app)
    https = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}}
    page = client.get("/login", **https).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"csrf_token": token, "login": member.login, "password": PASSWORD}, **https
    )
    assert response.status_code == 302
    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(services.DEVICE_COOKIE + "=")
    )
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_new_sign_in_email_is_in_the_members_language(app, make_member, smtp_server):  # noqa: F811
    member = make_member(email="nuevo@example.test", language="es", time_zone="America/Mexico_City")
    assert log_in(new_client(app), member.login, PASSWORD).status_code == 302
    assert log_in(new_client(app), member.login, PASSWORD).status_code == 302
    until_sync(lambda: len(smtp_server.messages) >= 1, timeout=30, what="the new-browser email")
    mail = smtp_server.messages[0]
    assert mail.message["Subject"] == "Nuevo inicio de sesión en su cuenta"
    body = mail.message.get_content()
    assert "America/Mexico_City" in body and "cambie su contraseña" in body


def test_the_login_is_recorded_only_after_the_second_factor(app, make_member, factory):
    """The password alone is no login: no "auth.login", no last_login_at, until a code is right
    (a wrong-code attempt must not show as a login on the operator's pages)."""
    member, secret, _ = enrolled_member(app, make_member)
    with factory() as s, s.begin():
        s.execute(update(User).where(User.id == member.user_id).values(last_login_at=None))
    logins_before = actions(factory, member.user_id).count("auth.login")
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    assert send_code(client, wrong_code(secret)).status_code == 400
    with factory() as s:
        assert s.get_one(User, member.user_id).last_login_at is None
    assert actions(factory, member.user_id).count("auth.login") == logins_before
    assert send_code(client, step_code(secret, 1)).status_code == 302
    with factory() as s:
        assert s.get_one(User, member.user_id).last_login_at is not None
        login = s.scalars(
            select(AuditLog)
            .where(AuditLog.actor_user_id == member.user_id, AuditLog.action == "auth.login")
            .order_by(AuditLog.id.desc())
            .limit(1)
        ).one()
    assert login.remote_addr == client.environ_base["REMOTE_ADDR"]
    assert login.details == {"second_factor": "code"}
    assert actions(factory, member.user_id)[-3:] == ["auth.2fa_failed", "auth.2fa_ok", "auth.login"]


def test_the_page_showing_the_secret_is_never_cached(app, make_member):
    """The enrolment page carries the TOTP secret (text and QR): no cache may keep it."""
    member = make_member()
    client = new_client(app)
    sign_in(client, member)
    client.post("/two-factor/enrol", data={"csrf_token": csrf_token(client, "/two-factor/")})
    page = client.get("/two-factor/")
    assert 'id="totp-secret"' in page.get_data(as_text=True)
    assert "no-store" in page.headers.get("Cache-Control", "")


def test_wrong_codes_are_limited_per_address_across_users(app, make_member):
    """Someone holding several members' passwords gets CODE_ADDRESS_LIMIT wrong codes from one
    address in all, not CODE_LIMIT per member; another address is not affected."""
    address = next_address()
    per_user = services.CODE_LIMIT - 1  # no member reaches their own lock
    users = -(-services.CODE_ADDRESS_LIMIT // per_user)  # ceil
    spent = 0
    for _user in range(users):
        member, secret, _ = enrolled_member(app, make_member)
        client = new_client(app)
        client.environ_base["REMOTE_ADDR"] = address
        log_in(client, member.login, PASSWORD)
        for _attempt in range(min(per_user, services.CODE_ADDRESS_LIMIT - spent)):
            assert send_code(client, wrong_code(secret)).status_code == 400
            spent += 1
    assert spent == services.CODE_ADDRESS_LIMIT
    # the address is spent: even the right code of the last member is refused from it
    response = send_code(client, step_code(secret, 1))
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert not logged_in(client)
    # the same member from another address gets in
    other = new_client(app)
    log_in(other, member.login, PASSWORD)
    assert send_code(other, step_code(secret, 1)).status_code == 302
    assert logged_in(other)


def test_a_new_browser_on_a_dormant_account_still_emails_the_member(
    app,
    make_member,
    factory,
    smtp_server,  # noqa: F811
):
    """A login to an account whose only browser was last seen long ago (the likeliest target of
    a stolen password) is no "first browser ever": the member gets the new-sign-in email."""
    member = make_member(email="dormant@example.test")
    assert log_in(new_client(app), member.login, PASSWORD).status_code == 302
    long_ago = dt.datetime.now(dt.UTC) - services.DEVICE_KEEP - dt.timedelta(days=1)
    with factory() as s, s.begin():
        s.execute(
            update(UserDevice)
            .where(UserDevice.user_id == member.user_id)
            .values(created_at=long_ago, last_seen_at=long_ago)
        )
    assert log_in(new_client(app), member.login, PASSWORD).status_code == 302
    until_sync(lambda: len(smtp_server.messages) >= 1, timeout=30, what="the new-browser email")
    assert smtp_server.messages[0].message["Subject"] == "New sign-in to your account"
    with factory() as s:  # the stale browser is dropped all the same
        assert s.scalar(select(func.count()).where(UserDevice.user_id == member.user_id)) == 1


def test_one_code_sent_by_two_logins_at_once_lets_only_one_in(app, make_member):
    """Two code steps racing with the same code: the user's row lock serializes them, so exactly
    one is let in, whichever comes first (the other is a replay)."""
    from concurrent.futures import ThreadPoolExecutor

    member, secret, _ = enrolled_member(app, make_member)
    clients = [new_client(app), new_client(app)]
    forms = []
    for client in clients:
        log_in(client, member.login, PASSWORD)
        forms.append({"csrf_token": csrf_token(client, "/login/code"), "code": step_code(secret, 1)})
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda pair: pair[0].post("/login/code", data=pair[1]), zip(clients, forms, strict=True))
        )
    assert sorted(a.status_code for a in answers) == [302, 400]
    refused = next(a for a in answers if a.status_code == 400)
    assert errors_in(refused) == ["That code was already used. Wait for the next code in your app."]


def test_a_copy_of_the_code_step_is_void_once_the_login_is_done(app, make_member):
    """The "awaiting code" state is one-time: a copy of its cookie (taken before the code was
    entered) opens no second code step once that login completed."""
    member, secret, _ = enrolled_member(app, make_member)
    client = new_client(app)
    log_in(client, member.login, PASSWORD)
    copied = client.get_cookie("voip_panel").value
    assert send_code(client, step_code(secret, 1)).status_code == 302
    thief = new_client(app)
    thief.environ_base["REMOTE_ADDR"] = client.environ_base["REMOTE_ADDR"]
    thief.set_cookie("voip_panel", copied)
    response = thief.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not logged_in(thief)


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36", "Chrome / Linux"),
        ("curl/8.5.0", "curl/8.5.0"),
        # the User-Agent is the requester's free text: no sentence of theirs reaches the email
        ("Our scheduled maintenance. Call +1 900 555 0100 to keep your account", "Our"),
        ("", "?"),
    ],
)
def test_a_browser_name_carries_no_free_text_of_the_requester(user_agent, name):
    assert services.browser_name(user_agent) == name


def test_the_page_lists_the_newest_browsers_and_counts_the_rest(app, make_member, factory):
    """A member who logged in from many browsers (each login without the cookie is one) gets
    the most recently seen DEVICES_SHOWN, how many there are in all, and Forget every browser."""
    member = make_member()
    now = dt.datetime.now(dt.UTC)
    total = services.DEVICES_SHOWN + 5
    with transaction(factory) as s:
        for n in range(total):  # browser n was last seen n hours ago
            s.add(
                UserDevice(
                    user_id=member.user_id,
                    token_hash=services.device_hash(f"token-{member.user_id}-{n}"),
                    user_agent="Mozilla/5.0 (Windows NT 10.0) Firefox/121.0",
                    remote_addr=f"192.0.2.{n + 1}",
                    last_seen_at=now - dt.timedelta(hours=n),
                )
            )
    client = new_client(app)
    sign_in(client, member)
    html = client.get("/two-factor/").get_data(as_text=True)
    with factory() as s:
        ids = s.scalars(
            select(UserDevice.id)
            .where(UserDevice.user_id == member.user_id)
            .order_by(UserDevice.last_seen_at.desc())
        ).all()
    listed = [int(i) for i in re.findall(r'action="/two-factor/devices/(\d+)/forget"', html)]
    assert listed == ids[: services.DEVICES_SHOWN]
    note = unescape(re.search(r'<p class="muted" id="devices-more">([^<]*)</p>', html).group(1))
    assert note == (
        f"The {services.DEVICES_SHOWN} most recently seen of your {total} browsers are listed; "
        "“Forget every browser” forgets them all."
    )
    assert 'action="/two-factor/devices/forget-all"' in html
    # at most DEVICES_SHOWN: every one listed, no note
    with transaction(factory) as s:
        s.execute(delete(UserDevice).where(UserDevice.id.in_(ids[services.DEVICES_SHOWN :])))
    html = client.get("/two-factor/").get_data(as_text=True)
    assert len(re.findall(r'action="/two-factor/devices/\d+/forget"', html)) == services.DEVICES_SHOWN
    assert 'id="devices-more"' not in html
