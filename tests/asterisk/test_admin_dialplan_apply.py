"""The operator admin's dialplan overrides on the real Asterisk 22 sandbox: applied from the
panel (file written into the instance's config dir + `dialplan reload` over AMI), live in
`dialplan show`, rolled back, and kept by the next config render."""

from __future__ import annotations

import re
import time
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select, text

from asterisk_conf import overrides
from asterisk_conf.render import render_all, write
from db import accounts
from db.models import AuditLog, DialplanVersion
from db.session import transaction
from tests.conftest import ASTERISK_INSTANCE
from tests.support.panel import sign_in_user
from webpanel import create_app

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
    sign_in_user(client, admin_id)  # issue 13: a server-side session row
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


# --- issue 13 item 9 ---------------------------------------------------------------------------


def test_a_version_the_database_does_not_save_never_reaches_asterisk(
    asterisk, admin_client, database, factory, engine
):
    """The database first: the version and its audit row are committed before the file is
    written and Asterisk reloads. The database refuses the commit here (a deferred constraint
    trigger fires at COMMIT, after the row and its audit were flushed): nothing is written to
    Asterisk's config dir, nothing is reloaded, nothing is recorded, and the admin is told."""
    client, admin_id = admin_client
    live_file = Path(database.asterisk_config_dir) / overrides.ADMIN_FILE
    before_file = live_file.read_text()
    with factory() as s:
        before = s.scalar(select(DialplanVersion.id).order_by(DialplanVersion.id.desc()))
    body = "[members]\nexten => *4399,1,Goto(admin-never,s,1)\n[admin-never]\nexten => s,1,Answer()\n"
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER INSERT ON dialplan_versions "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_commit()"
            )
        )
    try:
        r = _apply(client, body, "never saved")
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_refuse_commit ON dialplan_versions"))
            conn.execute(text("DROP FUNCTION test_refuse_commit()"))
    assert r.status_code == 503
    assert "The database did not save the version, so nothing was written to Asterisk." in _errors(r)
    assert live_file.read_text() == before_file
    assert "*4399" not in asterisk.cli("dialplan show members")
    assert "'s' =>" not in asterisk.run("cli", ASTERISK_INSTANCE, "dialplan show admin-never", check=False)
    with factory() as s:
        assert s.scalar(select(DialplanVersion.id).order_by(DialplanVersion.id.desc())) == before
        assert not list(
            s.scalars(
                select(AuditLog.id).where(
                    AuditLog.actor_user_id == admin_id, AuditLog.action == "admin.dialplan_apply"
                )
            )
        )
    # the same text applies once the database takes it: the file and Asterisk follow the row
    r = _apply(client, body, "saved")
    assert r.status_code == 302, _errors(r)
    assert "Goto(admin-never,s,1)" in asterisk.cli("dialplan show *4399@members")
    _apply(client, "", "clear")


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "[members]\nexten => *4398,1,Read(N,beep,11)\n same => n,Dial(PJSIP/${N}@trunk)\n",
            "Dial: the target, timeout and options must be written out",
        ),
        ("[members]\nexten => *4397,1,Goto(dial-out,dial,1)\n", "Goto into [dial-out] is not allowed"),
        (
            "[members]\nexten => *4396,1,Read(N,beep,11)\n same => n,Goto(members,${N},1)\n",
            "Goto into [members] is not allowed",
        ),
    ],
)
def test_a_feature_code_around_billing_is_refused_and_asterisk_keeps_what_it_runs(
    asterisk, admin_client, database, body, message
):
    client, _ = admin_client
    live_file = Path(database.asterisk_config_dir) / overrides.ADMIN_FILE
    before_file = live_file.read_text()
    r = _apply(client, body, "around billing")
    assert r.status_code == 400
    assert message in unescape(r.get_data(as_text=True))
    assert live_file.read_text() == before_file
    assert "*439" not in asterisk.cli("dialplan show members")


def test_the_real_asterisk_loads_the_allowed_jump_and_dial_shapes(asterisk, admin_client):
    """What the stricter validator still accepts (issue 13 item 9), Asterisk loads as written."""
    client, _ = admin_client
    body = """[members]
exten => *4395,1,Goto(admin-ivr,s,1)
[admin-ivr]
exten => s,1(top),Read(CHOICE,beep,4)
 same => n,GotoIf($["${CHOICE}" = ""]?top:admin-menu,${CHOICE},1)
 same => n,GosubIf($[${CHOICE:0:1} = 9]?admin-menu,s,1(${CHOICE}):admin-menu,s,1)
 same => n,Gosub(admin-menu,s,1(${CALLERID(name)}))
 same => n,Goto(admin-menu,${FILTER(0-9*#,${CHOICE})},1)
 same => n,Dial(Local/s@admin-menu/n,30,tTm(default))
 same => n,Background(menu,,,admin-menu)
[admin-menu]
exten => s,1,Playback(hello)
 same => n,Return()
exten => _X.,1,SayDigits(${EXTEN})
"""
    r = _apply(client, body, "jump shapes")
    assert r.status_code == 302, _errors(r)
    shown = asterisk.cli("dialplan show admin-ivr")
    assert "Dial(Local/s@admin-menu/n,30,tTm(default))" in shown
    assert "Goto(admin-menu,${FILTER(0-9*#,${CHOICE})},1)" in shown
    r = _apply(client, "", "clear")
    assert r.status_code == 302
