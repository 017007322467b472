"""The demo's mail (issue 11, item 5): `make up` starts a mail catcher on the loopback SMTP port
the settings name, which keeps every message as an .eml file in the demo mailbox, and the
operator admin reads that mail on Demo Mail (list newest first, a message with its headers,
text and attachments to download). The catcher here is started the way `make up` starts it
(`scripts/mailcatcher start`), on its own free port and mailbox, and the mail goes through
controller.services.mailer like the panel's and the controller's.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import os
import re
import socket
import subprocess
import time
import wave
from html import unescape
from pathlib import Path

import pytest

from controller.services import mailer
from controller.services.mailcatcher import mailbox as mb
from controller.services.mailcatcher import server
from db import accounts
from db.session import transaction
from webpanel import create_app

from .conftest import log_in, sign_in

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "mailcatcher"
MODULE = "controller.services.mailcatcher"
ADMIN_PASSWORD = "Admin-pass-2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(env: dict[str, str], action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), action], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )


def _catchers(mailbox_dir: Path) -> list[int]:
    """The pids of every catcher process writing into this mailbox."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if MODULE.encode() in cmdline and f"VOIP_DEMO_MAILBOX={mailbox_dir}".encode() in environ:
            found.append(int(entry.name))
    return found


@dataclasses.dataclass
class Catcher:
    env: dict[str, str]
    mailbox_dir: Path
    run_dir: Path
    settings: object  # controller.settings.Settings pointed at this catcher


@pytest.fixture()
def catcher(database, tmp_path):
    """A catcher started by `scripts/mailcatcher start`, as `make up` does (stopped after)."""
    port = _free_port()
    mailbox_dir = tmp_path / "mail"
    env = {
        **os.environ,
        "VOIP_RUN_DIR": str(tmp_path / "run"),
        "VOIP_DEMO_MAILBOX": str(mailbox_dir),
        "VOIP_SMTP_PORT": str(port),
    }
    started = _script(env, "start")
    assert started.returncode == 0, started.stdout + started.stderr
    settings = dataclasses.replace(database, smtp_port=port, demo_mailbox=str(mailbox_dir))
    try:
        yield Catcher(env, mailbox_dir, tmp_path / "run", settings)
    finally:
        _script(env, "stop")


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 64)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\nBEGIN:VEVENT\r\nSUMMARY:Demo\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def _admin_client(factory, engine, settings):
    """A client of a panel whose settings name the catcher's mailbox, logged in as an admin
    through the login form."""
    login = f"admin-{time.time_ns()}"
    with transaction(factory) as s:
        accounts.create_admin(s, login, ADMIN_PASSWORD)
    client = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine}).test_client()
    response = log_in(client, login, ADMIN_PASSWORD)
    assert response.status_code == 302, response.status_code
    return client


def _html(client, url: str) -> str:
    """The page, which renders clean for the CSP (no inline script or style), unescaped."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    html = response.get_data(as_text=True)
    assert "<style" not in html and not re.search(r"\sstyle=", html), url
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and not re.search(r"\son[a-z]+=", html), url
    return unescape(html)


def test_mail_sent_through_the_mailer_is_kept_on_disk_and_read_in_the_admin(catcher, factory, engine):
    wav = _wav()
    mailer.send_mail_blocking(
        catcher.settings,
        ["alice@example.com", "Zoé Guest <zoe@example.com>"],
        "Nouveau message vocal de 17005550102",
        "You have a new voicemail.\nThe recording is attached.",
        [
            ("msg0001.wav", wav, "audio/wav"),
            ("fax.pdf", PDF, "application/pdf"),
            ("invite.ics", ICS, "text/calendar"),
        ],
    )

    # on disk: one whole .eml, the envelope kept, every attachment byte for byte
    box = mb.Mailbox(catcher.mailbox_dir)
    (message_id,) = box.ids()
    assert [p.name for p in catcher.mailbox_dir.iterdir()] == [f"{message_id}.eml"]
    msg = box.message(message_id)
    assert msg["X-Envelope-To"] == "alice@example.com, zoe@example.com"
    assert msg["Subject"] == "Nouveau message vocal de 17005550102"
    assert [(p.filename, p.content_type) for p, _ in mb.other_parts(msg)] == [
        ("msg0001.wav", "audio/wav"),
        ("fax.pdf", "application/pdf"),
        ("invite.ics", "text/calendar"),
    ]
    assert [mb.part_bytes(part) for _, part in mb.other_parts(msg)] == [wav, PDF, ICS]

    # the admin: the list (with the navigation's link), the message, each attachment, the .eml
    client = _admin_client(factory, engine, catcher.settings)
    listing = _html(client, "/admin/mail/")
    assert 'href="/admin/mail/"' in listing  # Demo Mail in the navigation
    row = re.search(r'<tr class="mail-row">(.*?)</tr>', listing, re.S)
    assert row, listing
    for text in ("noreply@voip.local", "alice@example.com", "Zoé Guest <zoe@example.com>", msg["Subject"]):
        assert text in row.group(1), text
    assert f'href="/admin/mail/{message_id}"' in row.group(1)

    view = _html(client, f"/admin/mail/{message_id}")
    assert "You have a new voicemail.\nThe recording is attached." in view
    for text in ("From", "noreply@voip.local", "To", "X-Envelope-To", "msg0001.wav", "fax.pdf", "invite.ics"):
        assert text in view, text
    for index, (name, content, kind) in enumerate(
        [
            ("msg0001.wav", wav, "audio/wav"),
            ("fax.pdf", PDF, "application/pdf"),
            ("invite.ics", ICS, "text/calendar"),
        ]
    ):
        assert f'href="/admin/mail/{message_id}/parts/{index}"' in view
        response = client.get(f"/admin/mail/{message_id}/parts/{index}")
        assert response.status_code == 200
        assert response.data == content
        assert response.mimetype == kind
        assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
    raw = client.get(f"/admin/mail/{message_id}/raw")
    assert raw.status_code == 200 and raw.data == (catcher.mailbox_dir / f"{message_id}.eml").read_bytes()
    assert raw.headers["Content-Disposition"] == f'attachment; filename="{message_id}.eml"'


def test_the_list_is_newest_first(catcher, factory, engine):
    for subject in ("first", "second", "third"):
        mailer.send_mail_blocking(catcher.settings, "bob@example.com", f"Mail {subject}", "text")
    client = _admin_client(factory, engine, catcher.settings)
    listing = _html(client, "/admin/mail/")
    assert re.findall(r"Mail (first|second|third)", listing) == ["third", "second", "first"]


def test_no_member_reads_the_demo_mail(catcher, factory, engine, make_member):
    mailer.send_mail_blocking(catcher.settings, "bob@example.com", "Reset your password", "a secret link")
    (message_id,) = mb.Mailbox(catcher.mailbox_dir).ids()
    client = create_app(
        {"TESTING": True, "VOIP_SETTINGS": catcher.settings, "VOIP_ENGINE": engine}
    ).test_client()
    sign_in(client, make_member())
    for url in (
        "/admin/mail/",
        f"/admin/mail/{message_id}",
        f"/admin/mail/{message_id}/parts/0",
        f"/admin/mail/{message_id}/raw",
    ):
        response = client.get(url)
        assert response.status_code in (403, 404), (url, response.status_code)
        assert b"a secret link" not in response.data
    assert "/admin/mail/" not in client.get("/").get_data(as_text=True)


def test_a_message_id_is_never_a_path(catcher, factory, engine, tmp_path):
    mailer.send_mail_blocking(catcher.settings, "bob@example.com", "Hello", "text")
    (message_id,) = mb.Mailbox(catcher.mailbox_dir).ids()
    # a message-shaped file outside the mailbox, and a plain file beside it
    (tmp_path / "secret.eml").write_text("Subject: outside\n\nnot yours\n")
    (catcher.mailbox_dir / "notes.eml").write_text("Subject: not a catcher file\n\nno\n")
    client = _admin_client(factory, engine, catcher.settings)
    for url in (
        "/admin/mail/../secret",
        "/admin/mail/..%2Fsecret",
        "/admin/mail/%2E%2E%2Fsecret/raw",
        "/admin/mail/..%2F..%2F..%2Fetc%2Fpasswd/raw",
        "/admin/mail/notes",
        "/admin/mail/notes/raw",
        f"/admin/mail/{message_id}%2F..%2F..%2Fsecret/raw",
        f"/admin/mail/{message_id[:-1]}0x/raw",
        f"/admin/mail/{message_id}/parts/9",
        "/admin/mail/20990101T000000.000000Z-00000000",
    ):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert b"not yours" not in response.data
    assert "not a catcher file" not in _html(client, "/admin/mail/")
    box = mb.Mailbox(catcher.mailbox_dir)
    for bad in ("../secret", "/etc/passwd", "notes", f"{message_id}/../../secret", ""):
        with pytest.raises(mb.NoSuchMessage):
            box.raw(bad)


def test_without_a_demo_mailbox_the_page_says_where_mail_goes(database, factory, engine):
    settings = dataclasses.replace(database, demo_mailbox="")
    client = _admin_client(factory, engine, settings)
    html = _html(client, "/admin/mail/")
    assert "No demo mailbox is configured (VOIP_DEMO_MAILBOX)" in html
    assert f"{settings.smtp_host}:{settings.smtp_port}" in html
    assert 'href="/admin/mail/"' not in _html(client, "/admin/")  # no Demo Mail in the navigation
    assert client.get("/admin/mail/20990101T000000.000000Z-00000000").status_code == 404


def test_starting_the_catcher_again_keeps_the_one_running_and_stop_ends_it(catcher):
    pidfile = catcher.run_dir / "mailcatcher.pid"
    pid = int(pidfile.read_text())
    assert _catchers(catcher.mailbox_dir) == [pid]

    again = _script(catcher.env, "start")  # what a second `make up` runs
    assert again.returncode == 0, again.stderr
    assert f"already running (pid {pid})" in again.stdout
    assert int(pidfile.read_text()) == pid
    assert _catchers(catcher.mailbox_dir) == [pid]
    mailer.send_mail_blocking(catcher.settings, "bob@example.com", "Still there", "text")
    assert len(mb.Mailbox(catcher.mailbox_dir).ids()) == 1

    stopped = _script(catcher.env, "stop")  # what `make down` runs
    assert stopped.returncode == 0 and "mailcatcher stopped" in stopped.stdout
    assert _catchers(catcher.mailbox_dir) == [] and not pidfile.exists()
    assert _script(catcher.env, "status").returncode == 3
    assert _script(catcher.env, "stop").returncode == 0  # stopping twice is fine

    # a stale pid file (a catcher killed outright, its pid reused) does not stop the next start
    pidfile.write_text(str(os.getpid()))
    restarted = _script(catcher.env, "start")
    assert restarted.returncode == 0, restarted.stderr
    new_pid = int(pidfile.read_text())
    assert new_pid != os.getpid() and _catchers(catcher.mailbox_dir) == [new_pid]


def test_an_empty_demo_mailbox_starts_no_catcher(tmp_path):
    env = {**os.environ, "VOIP_RUN_DIR": str(tmp_path), "VOIP_DEMO_MAILBOX": "", "VOIP_SMTP_PORT": "1"}
    result = _script(env, "start")
    assert result.returncode == 0 and "not started" in result.stdout
    assert not (tmp_path / "mailcatcher.pid").exists()


def test_mail_sent_at_the_same_time_is_all_kept(catcher):
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        sent = [
            pool.submit(
                mailer.send_mail_blocking, catcher.settings, "bob@example.com", f"Message {n}", "text"
            )
            for n in range(20)
        ]
        for future in sent:
            future.result()
    box = mb.Mailbox(catcher.mailbox_dir)
    subjects = sorted(str(box.message(i)["Subject"]) for i in box.ids())
    assert subjects == sorted(f"Message {n}" for n in range(20))
    assert not [p for p in catcher.mailbox_dir.iterdir() if p.name.startswith(".")]  # no half-written file


async def test_a_message_that_cannot_be_written_is_refused_not_lost(database, tmp_path):
    """The sender hears 451 (and retries, then reports the mail not sent), never a 250. (The
    server in this test's loop: one mail at a time, so the two share the default thread pool.)"""
    blocked = tmp_path / "mailbox-is-a-file"
    blocked.write_text("")
    settings = dataclasses.replace(database, smtp_port=_free_port(), smtp_attempts=2, smtp_retry_delay=0.05)
    listening = await server.start(settings, mb.Mailbox(blocked))
    try:
        with pytest.raises(mailer.MailUnavailable, match="451"):
            await mailer.send_mail(settings, "bob@example.com", "Lost?", "text")
    finally:
        listening.close()
