"""The operator admin's dialplan overrides on the real Asterisk 22 sandbox: applied from the
panel (file written into the instance's config dir + `dialplan reload` over AMI), live in
`dialplan show`, rolled back, and kept by the next config render."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from asterisk_conf import overrides
from asterisk_conf.render import render_all, write
from db import accounts
from db.models import AuditLog, DialplanVersion
from db.session import transaction
from tests.conftest import ASTERISK_INSTANCE
from webpanel import access, create_app

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

BASE = """; a harmless admin context
[admin-base]
exten => s,1,Answer()
 same => n,Hangup()
"""
ECHO = (
    BASE
    + """
; echo test for members
[members]
exten => *4321,1,Goto(admin-echo,s,1)

[admin-echo]
exten => s,1,Answer()
 same => n,Playback(demo-echotest)
 same => n,Echo()
 same => n,Hangup()
"""
)


@pytest.fixture()
def admin_client(asterisk, database, engine, factory):
    app = create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine})
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"dpadmin-{time.time_ns()}", "Admin-pass-2026").id
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.permanent = True
        sess[access.SESSION_USER_ID], sess[access.SESSION_VERSION] = admin_id, 0
    return client, admin_id


def _errors(response) -> str:
    html = response.get_data(as_text=True)
    return (
        " | ".join(re.findall(r'<div class="form-errors" role="alert">(.*?)</div>', html, re.S))
        or html[-2000:]
    )


def _post(client, url, data=None):
    token = CSRF_RE.search(client.get("/admin/dialplan/").get_data(as_text=True)).group(1)
    return client.post(url, data={"csrf_token": token, **(data or {})})


def _apply(client, body, comment):
    return _post(client, "/admin/dialplan/", {"body": body, "comment": comment, "action": "apply"})


def test_apply_shows_the_extension_live_and_rollback_removes_it(
    asterisk, admin_client, database, factory, tmp_path
):
    client, admin_id = admin_client
    live_file = Path(database.asterisk_config_dir) / overrides.ADMIN_FILE
    assert live_file.read_text().startswith(overrides.file_text(""))  # rendered by the sandbox start

    r = _apply(client, BASE, "baseline")
    assert r.status_code == 302, _errors(r)
    assert "'s' =>" in asterisk.cli("dialplan show admin-base")
    with factory() as s:
        base_id = s.scalar(select(DialplanVersion.id).order_by(DialplanVersion.id.desc()))

    started = time.monotonic()
    r = _apply(client, ECHO, "echo test on *4321")
    apply_seconds = time.monotonic() - started
    assert r.status_code == 302, _errors(r)
    shown = asterisk.cli("dialplan show *4321@members")
    assert "Goto(admin-echo,s,1)" in shown and "extensions_admin.conf" in shown
    assert "Echo()" in asterisk.cli("dialplan show admin-echo")
    # the generated routing is untouched: 911 and the catch-all still go to the controller
    members = asterisk.cli("dialplan show members")
    assert "'911' =>" in members and "'_[0-9*#+].' =>" in members
    assert "*4321" in live_file.read_text()
    # a re-render (sandbox restart, voipctl asterisk-config render) keeps the applied version
    write(database, tmp_path)
    assert (tmp_path / overrides.ADMIN_FILE).read_text() == overrides.file_text(ECHO)

    with factory() as s:
        echo_id = s.scalar(select(DialplanVersion.id).order_by(DialplanVersion.id.desc()))
    assert echo_id > base_id
    r = _post(client, f"/admin/dialplan/versions/{base_id}/rollback")
    assert r.status_code == 302, _errors(r)
    assert "*4321" not in asterisk.cli("dialplan show members")
    assert "'s' =>" not in asterisk.cli("dialplan show admin-echo")
    assert "'s' =>" in asterisk.cli("dialplan show admin-base")
    assert "*4321" not in live_file.read_text()

    with factory() as s:
        versions = list(s.scalars(select(DialplanVersion).order_by(DialplanVersion.id)))[-3:]
        assert [v.source for v in versions] == ["edit", "edit", "rollback"]
        assert versions[-1].rolled_back_to_id == base_id and versions[-1].body == versions[0].body
        assert all(v.applied_by_user_id == admin_id for v in versions)
        actions = list(
            s.scalars(select(AuditLog.action).where(AuditLog.actor_user_id == admin_id).order_by(AuditLog.id))
        )
    assert actions == ["admin.dialplan_apply", "admin.dialplan_apply", "admin.dialplan_rollback"]
    html = client.get("/admin/dialplan/").get_data(as_text=True)
    assert "echo test on *4321" in html and "Rollback to version" in html
    print(f"\napply (write + dialplan reload + verify over AMI): {apply_seconds * 1000:.0f} ms")


def test_an_invalid_override_is_refused_and_asterisk_keeps_what_it_runs(
    asterisk, admin_client, database, factory
):
    client, admin_id = admin_client
    live_file = Path(database.asterisk_config_dir) / overrides.ADMIN_FILE
    before_file = live_file.read_text()
    with factory() as s:
        before = s.scalar(select(DialplanVersion.id).order_by(DialplanVersion.id.desc()))
    r = _apply(client, "[admin-x]\nexten => s,1,System(touch /tmp/pwned)\n", "evil")
    assert r.status_code == 400
    assert "Application System is not allowed" in r.get_data(as_text=True)
    assert live_file.read_text() == before_file
    with factory() as s:
        assert s.scalar(select(DialplanVersion.id).order_by(DialplanVersion.id.desc())) == before
    assert "'s' =>" not in asterisk.run("cli", ASTERISK_INSTANCE, "dialplan show admin-x", check=False)


def test_the_real_asterisk_loads_every_valid_override_shape(asterisk, admin_client, database):
    """What the validator accepts, Asterisk loads: includes between admin contexts, labels,
    patterns in sim-pstn, GotoIf with expressions."""
    client, _ = admin_client
    body = """[admin-menu]
include => admin-sub
exten => s,1(start),Answer()
 same => n,Read(CHOICE,beep,1,,1,5)
 same => n,GotoIf($["${CHOICE}" = "1"]?admin-sub,1,1:start)
[admin-sub]
exten => 1,1,SayDigits(${EXTEN})
 same => n,Hangup()
[sim-pstn]
exten => _1555123XXXX,1,Congestion(5)
[members]
exten => *4300,1,Goto(admin-menu,s,1)
"""
    r = _apply(client, body, "shapes")
    assert r.status_code == 302, _errors(r)
    assert re.search(r"Include =>\s+'admin-sub'", asterisk.cli("dialplan show admin-menu"))
    assert "Congestion(5)" in asterisk.cli("dialplan show _1555123XXXX@sim-pstn")
    r = _apply(client, "", "clear")
    assert r.status_code == 302
    assert "*4300" not in asterisk.cli("dialplan show members")
    assert "#tryinclude extensions_admin.conf" in render_all(database)["extensions.conf"]
