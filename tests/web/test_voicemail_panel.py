"""The help page's "Voicemail" player and the greeting recorded in the browser, on the real
PostgreSQL: previous/next, the audio, save, delete (with the MWI hand-off the phone menu uses),
download all, New/Saved counts, total length, "message left on" in the member's zone; the
greeting upload converted by the real ffmpeg; bad input and other accounts' ids (404)."""

from __future__ import annotations

import io
import re
import subprocess
import wave
import zipfile
from html import unescape

import psycopg
import pytest
from sqlalchemy import select, update

from controller.services.voicemail import mwi, service
from db.models import VoicemailGreeting, VoicemailMessage
from db.session import transaction
from tests.voicemail.helpers import wav

from .cdrs import at
from .conftest import csrf_token, flashes, page, sign_in

JSON = {"Accept": "application/json"}


def _store(factory, member, *seconds: float, received: list[str] | None = None) -> list[int]:
    ids = []
    with transaction(factory) as s:
        for n, length in enumerate(seconds):
            message_id = service.store_message(
                s,
                member.virtual_number_id,
                audio=wav(length, 440 + 100 * n),
                duration_seconds=length,
                caller_name=f"Caller {n}",
                caller_number=f"1312555{n:04d}",
                notify=mwi.queue_mwi,
            )
            if received:
                s.execute(
                    update(VoicemailMessage)
                    .where(VoicemailMessage.id == message_id)
                    .values(received_at=at(received[n]))
                )
            ids.append(message_id)
    return ids


def _rows(factory, member) -> list[tuple[int, str]]:
    with factory() as s:
        return [
            (m.id, m.folder)
            for m in s.scalars(
                select(VoicemailMessage)
                .where(VoicemailMessage.virtual_number_id == member.virtual_number_id)
                .order_by(VoicemailMessage.id)
            )
        ]


def _greeting(factory, member) -> bytes | None:
    with factory() as s:
        row = s.get(VoicemailGreeting, member.virtual_number_id)
        return bytes(row.audio) if row else None


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no #{element_id}"
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def _ffmpeg(tmp_path, name: str, source: str, *codec: str) -> bytes:
    out = tmp_path / name
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            *codec,
            str(out),
        ],
        check=True,
        timeout=60,
    )
    return out.read_bytes()


@pytest.fixture(scope="module")
def webm_greeting(tmp_path_factory) -> bytes:
    """What Chromium's MediaRecorder uploads: WebM/Opus, 48 kHz, here 1.5 s of a 600 Hz tone."""
    return _ffmpeg(
        tmp_path_factory.mktemp("greeting"),
        "greeting.webm",
        "sine=frequency=600:duration=1.5:sample_rate=48000",
        "-c:a",
        "libopus",
    )


@pytest.fixture()
def listener(settings):
    conninfo = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"LISTEN {mwi.MWI_CHANNEL}")
        yield conn


def _notified(conn, count: int = 1, timeout: float = 2.0) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=timeout, stop_after=count)]


def _post(client, url: str, data: dict | None = None, token_from: str = "/voicemail/", **kwargs):
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **(data or {})}, **kwargs)


# ----- the player
def test_player_shows_counts_current_message_total_and_left_on_in_the_members_time_zone(
    client, make_member, factory
):
    member = make_member(time_zone="America/New_York")
    first, second = _store(
        factory, member, 2.0, 65.0, received=["2026-03-01 03:30:00", "2026-03-02 12:00:00"]
    )
    with transaction(factory) as s:
        service.save_message(s, member.virtual_number_id, second, notify=mwi.queue_mwi)
    sign_in(client, member)
    html = page(client, "/voicemail/")
    assert 'href="/voicemail/" class="active" aria-current="page"' in html  # the nav's section
    assert _text(html, "vm-count-new") == "1" and _text(html, "vm-count-saved") == "1"
    assert _text(html, "vm-position") == "New 1"
    assert _text(html, "vm-total") == "00:02"
    # 03:30 UTC on March 1st is 22:30 the day before in New York
    assert _text(html, "vm-left-on") == "2026-02-28 22:30:00"
    assert "13125550000" in _text(html, "vm-caller")
    assert f'src="/voicemail/messages/{first}/audio"' in html
    assert _text(html, "vm-box-number") == member.number
    assert "Total length 01:07" in html
    for element in (
        "vm-prev",
        "vm-play",
        "vm-pause",
        "vm-stop",
        "vm-next",
        "vm-download",
        "vm-record",
        "vm-save",
        "vm-delete",
        "vm-greeting-file",
        "vm-greeting-status",
    ):
        assert f'id="{element}"' in html, element
    assert '<script src="/static/voicemail.js" defer></script>' in html


def test_previous_and_next_walk_new_messages_then_saved_ones_oldest_first(client, make_member, factory):
    member = make_member()
    a, b, c = _store(factory, member, 1.0, 1.0, 1.0)
    with transaction(factory) as s:
        service.save_message(s, member.virtual_number_id, a, notify=mwi.queue_mwi)
    sign_in(client, member)
    html = page(client, "/voicemail/")
    assert _text(html, "vm-position") == "New 1"
    assert 'id="vm-prev" aria-disabled="true"' in html
    assert f'id="vm-next" href="/voicemail/{member.number}/?m={c}"' in html
    html = page(client, f"/voicemail/{member.number}/?m={c}")
    assert _text(html, "vm-position") == "New 2"
    assert f'id="vm-prev" href="/voicemail/{member.number}/?m={b}"' in html
    assert f'id="vm-next" href="/voicemail/{member.number}/?m={a}"' in html
    html = page(client, f"/voicemail/?m={a}")
    assert _text(html, "vm-position") == "Saved 1"
    assert 'id="vm-next" aria-disabled="true"' in html
    assert re.search(r'id="vm-save"[^>]*disabled', html)  # already saved


def test_an_empty_mailbox_says_so_and_download_tells_there_is_nothing(client, make_member):
    member = make_member()
    sign_in(client, member)
    html = page(client, "/voicemail/")
    assert _text(html, "vm-empty") == "You have no messages."
    assert _text(html, "vm-count-new") == "0" and 'id="vm-download" aria-disabled="true"' in html
    response = client.get(f"/voicemail/{member.number}/download", follow_redirects=True)
    assert "There are no messages to download." in flashes(response)


def test_the_audio_is_the_messages_wav_with_byte_ranges(client, make_member, factory):
    member = make_member()
    [message_id] = _store(factory, member, 1.2)
    sign_in(client, member)
    response = client.get(f"/voicemail/messages/{message_id}/audio")
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    with factory() as s:
        assert response.data == service.get_audio(s, member.virtual_number_id, message_id)[0]
    with wave.open(io.BytesIO(response.data)) as w:
        assert (w.getnchannels(), w.getframerate()) == (1, 8000)
    partial = client.get(f"/voicemail/messages/{message_id}/audio", headers={"Range": "bytes=0-43"})
    assert partial.status_code == 206 and partial.data == response.data[:44]
    assert partial.headers["Content-Range"] == f"bytes 0-43/{len(response.data)}"


def test_save_moves_the_message_to_saved_shows_the_next_and_sends_mwi(client, make_member, factory, listener):
    member = make_member()
    first, second = _store(factory, member, 1.0, 1.0)
    _notified(listener, 2)  # the two stored messages
    sign_in(client, member)
    response = _post(client, f"/voicemail/messages/{first}/save")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/voicemail/{member.number}/?m={second}"
    assert _notified(listener) == [str(member.virtual_number_id)]
    assert _rows(factory, member) == [(first, "saved"), (second, "new")]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The message was saved." in html
    assert _text(html, "vm-count-new") == "1" and _text(html, "vm-count-saved") == "1"


def test_delete_removes_the_message_and_sends_mwi(client, make_member, factory, listener):
    member = make_member()
    first, second = _store(factory, member, 1.0, 1.0)
    _notified(listener, 2)
    sign_in(client, member)
    response = _post(client, f"/voicemail/messages/{second}/delete")
    assert response.headers["Location"] == f"/voicemail/{member.number}/?m={first}"
    assert _notified(listener) == [str(member.virtual_number_id)]
    assert _rows(factory, member) == [(first, "new")]
    response = _post(client, f"/voicemail/messages/{first}/delete")
    assert response.headers["Location"] == f"/voicemail/{member.number}/"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The message was deleted." in html and _text(html, "vm-count-new") == "0"
    assert _rows(factory, member) == []


def test_save_and_delete_without_the_csrf_token_change_nothing(client, make_member, factory, listener):
    member = make_member()
    [message_id] = _store(factory, member, 1.0)
    _notified(listener)
    sign_in(client, member)
    for action in ("save", "delete"):
        assert client.post(f"/voicemail/messages/{message_id}/{action}").status_code == 400
        assert (
            client.post(
                f"/voicemail/messages/{message_id}/{action}", data={"csrf_token": "forged"}
            ).status_code
            == 400
        )
    assert _rows(factory, member) == [(message_id, "new")]
    assert _notified(listener, timeout=0.5) == []


def test_download_all_is_a_zip_of_every_message_in_play_order(client, make_member, factory):
    member = make_member()
    a, b = _store(factory, member, 1.0, 0.5)
    with transaction(factory) as s:
        service.save_message(s, member.virtual_number_id, a, notify=mwi.queue_mwi)
    sign_in(client, member)
    response = client.get(f"/voicemail/{member.number}/download")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert f'filename="voicemail-{member.number}-' in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as zf:
        names = zf.namelist()
        assert [n.split("-")[:2] for n in names] == [["new", "001"], ["saved", "001"]]
        with factory() as s:
            assert zf.read(names[0]) == service.get_audio(s, member.virtual_number_id, b)[0]


def test_bad_message_parameters_are_refused(client, make_member, factory):
    member = make_member()
    _store(factory, member, 1.0)
    sign_in(client, member)
    assert client.get("/voicemail/?m=abc").status_code == 400
    assert client.get("/voicemail/?m=-1").status_code == 400
    assert client.get("/voicemail/?m=99999999").status_code == 404
    assert client.get("/voicemail/not-a-number/").status_code == 404
    assert client.get("/voicemail/messages/99999999/audio").status_code == 404


# ----- who sees what
def test_another_accounts_messages_and_mailbox_are_not_found_and_stay_untouched(
    client, make_member, factory, webm_greeting
):
    owner, stranger = make_member(), make_member()
    [message_id] = _store(factory, owner, 1.0)
    with transaction(factory) as s:
        service.set_greeting(s, owner.virtual_number_id, audio=wav(1.0, 300))
    sign_in(client, stranger)
    for url in (
        f"/voicemail/?m={message_id}",
        f"/voicemail/messages/{message_id}/audio",
        f"/voicemail/{owner.number}/",
        f"/voicemail/{owner.number}/?m={message_id}",
        f"/voicemail/{owner.number}/download",
        f"/voicemail/{owner.number}/greeting/audio",
        f"/voicemail/{stranger.number}/?m={message_id}",
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        f"/voicemail/messages/{message_id}/save",
        f"/voicemail/messages/{message_id}/delete",
        f"/voicemail/{owner.number}/greeting/default",
    ):
        assert _post(client, url).status_code == 404, url
    response = _post(
        client,
        f"/voicemail/{owner.number}/greeting",
        {"greeting": (io.BytesIO(webm_greeting), "greeting.webm")},
        headers=JSON,
    )
    assert response.status_code == 404
    assert _rows(factory, owner) == [(message_id, "new")]
    assert _greeting(factory, owner) == wav(1.0, 300)


def test_a_secondary_user_has_only_their_own_mailbox_and_the_primary_holder_has_every_one(
    client, make_member, make_secondary, factory
):
    primary = make_member()
    second = make_secondary(primary)
    [own] = _store(factory, primary, 1.0)
    [theirs] = _store(factory, second, 1.0)
    sign_in(client, second)
    html = page(client, "/voicemail/")
    assert _text(html, "vm-box-number") == second.number and 'id="vm-mailbox"' not in html
    assert client.get(f"/voicemail/{primary.number}/").status_code == 404
    assert client.get(f"/voicemail/messages/{own}/audio").status_code == 404
    assert _post(client, f"/voicemail/messages/{own}/delete").status_code == 404
    assert client.get(f"/voicemail/messages/{theirs}/audio").status_code == 200

    sign_in(client, primary)
    html = page(client, "/voicemail/")
    assert _text(html, "vm-box-number") == primary.number
    assert f'href="/voicemail/{second.number}/"' in html  # the mailbox chips
    html = page(client, f"/voicemail/{second.number}/")
    assert f'src="/voicemail/messages/{theirs}/audio"' in html
    assert _post(client, f"/voicemail/messages/{theirs}/save").status_code == 302
    assert _rows(factory, second) == [(theirs, "saved")]


# ----- the greeting
def test_a_greeting_recorded_in_the_browser_is_converted_kept_and_played_back(
    client, make_member, factory, webm_greeting
):
    member = make_member()
    sign_in(client, member)
    html = page(client, "/voicemail/")
    assert "Callers hear the default greeting" in _text(html, "vm-greeting-status")
    assert re.search(r'id="vm-greeting-default-form"[^>]*hidden', html)
    response = _post(
        client,
        f"/voicemail/{member.number}/greeting",
        {"greeting": (io.BytesIO(webm_greeting), "greeting.webm", "audio/webm;codecs=opus")},
        headers=JSON,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    reply = response.get_json()
    assert reply["ok"] and reply["length"] == "00:02" and abs(reply["seconds"] - 1.5) < 0.1
    assert reply["audio_url"] == f"/voicemail/{member.number}/greeting/audio"
    stored = _greeting(factory, member)
    with wave.open(io.BytesIO(stored)) as w:  # what Asterisk's format_wav plays
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (1, 2, 8000, "NONE")
        assert abs(w.getnframes() / 8000 - 1.5) < 0.05
    listen = client.get(reply["audio_url"])
    assert listen.status_code == 200 and listen.mimetype == "audio/wav" and listen.data == stored
    html = page(client, "/voicemail/")
    assert "Callers hear your own greeting (00:02)" in _text(html, "vm-greeting-status")
    assert (
        f'id="vm-greeting-audio" controls preload="none" src="/voicemail/{member.number}/greeting/audio"'
        in html
    )

    # re-record: a new one replaces it
    again = _ffmpeg_bytes("sine=frequency=900:duration=3.2", "ogg", "-c:a", "libopus")
    reply = _post(
        client,
        f"/voicemail/{member.number}/greeting",
        {"greeting": (io.BytesIO(again), "greeting.ogg")},
        headers=JSON,
    ).get_json()
    assert reply["ok"] and reply["length"] == "00:03"
    assert _greeting(factory, member) != stored

    # back to the default
    response = _post(client, f"/voicemail/{member.number}/greeting/default", follow_redirects=True)
    assert "Callers now hear the default greeting." in flashes(response)
    assert _greeting(factory, member) is None
    assert client.get(f"/voicemail/{member.number}/greeting/audio").status_code == 404
    response = _post(client, f"/voicemail/{member.number}/greeting/default", follow_redirects=True)
    assert "Callers already hear the default greeting." in flashes(response)


def test_the_upload_form_without_script_takes_a_wav_file_and_answers_with_a_message(
    client, make_member, factory
):
    member = make_member()
    sign_in(client, member)
    response = _post(
        client,
        f"/voicemail/{member.number}/greeting",
        {"greeting": (io.BytesIO(wav(2.0, 500, rate=44100, channels=2)), "hello.wav")},
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/voicemail/{member.number}/"
    assert flashes(client.get(response.headers["Location"])) == [
        "Your new greeting (00:02) is saved: callers hear it before the tone."
    ]
    with wave.open(io.BytesIO(_greeting(factory, member))) as w:
        assert (w.getnchannels(), w.getframerate()) == (1, 8000)


def _ffmpeg_bytes(source: str, ext: str, *codec: str) -> bytes:
    proc = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            source,
            *codec,
            "-f",
            ext,
            "pipe:1",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return proc.stdout


@pytest.mark.parametrize(
    "upload, message",
    [
        (b"", "Choose or record a greeting first."),
        (b"hello, this is not audio at all" * 10, "That file is not a recording the panel can use."),
        (b"\x1a\x45\xdf\xa3" + b"\x00garbage" * 100, "The recording could not be read."),
        ("silent", "The recording is silent."),
        ("short", "The greeting is too short"),
        ("long", "The greeting is too long"),
        ("huge", "The recording is larger than 5 MB."),
    ],
)
def test_a_bad_greeting_upload_is_refused_with_a_clear_message_and_changes_nothing(
    client, make_member, factory, upload, message
):
    member = make_member()
    with transaction(factory) as s:
        service.set_greeting(s, member.virtual_number_id, audio=wav(1.0, 300))
    if upload == "silent":
        upload = _ffmpeg_bytes("anullsrc=r=48000:cl=mono:d=2", "webm", "-c:a", "libopus")
    elif upload == "short":
        upload = _ffmpeg_bytes("sine=frequency=600:duration=0.4", "webm", "-c:a", "libopus")
    elif upload == "long":
        upload = _ffmpeg_bytes("sine=frequency=600:duration=63", "webm", "-c:a", "libopus", "-b:a", "12k")
    elif upload == "huge":
        upload = b"OggS" + bytes(5 * 1024 * 1024)
    sign_in(client, member)
    data = {"greeting": (io.BytesIO(upload), "greeting.webm")} if upload else {}
    response = _post(client, f"/voicemail/{member.number}/greeting", data, headers=JSON)
    assert response.status_code == 400
    reply = response.get_json()
    assert reply["ok"] is False and message in reply["message"], reply
    assert _greeting(factory, member) == wav(1.0, 300)


def test_a_greeting_upload_without_the_csrf_token_is_refused(client, make_member, factory, webm_greeting):
    member = make_member()
    sign_in(client, member)
    response = client.post(
        f"/voicemail/{member.number}/greeting",
        data={"greeting": (io.BytesIO(webm_greeting), "greeting.webm")},
        headers=JSON,
    )
    assert response.status_code == 400
    assert _greeting(factory, member) is None


def test_player_and_list_show_one_length_rounded_half_up(client, make_member, factory):
    """Issue 16: the player said 00:03 and the list 00:02 for the same message. The length is
    the recording's own, rounded by one rule (halves up) wherever it is shown."""
    member = make_member()
    (message_id,) = _store(factory, member, 2.5)
    with factory() as s:
        stored = s.get(VoicemailMessage, message_id).duration_seconds
    assert float(stored) == 2.5
    sign_in(client, member)
    html = page(client, f"/voicemail/?m={message_id}")
    assert _text(html, "vm-total") == "00:03"
    listed = re.findall(r'<td data-label="Total">([^<]*)</td>', html)
    assert listed == ["00:03"], listed
    assert "Total length 00:03" in _text(html, "vm-total-length")
    assert [service.whole_seconds(x) for x in (0.49, 0.5, 1.5, 2.5, 59.5)] == [0, 1, 2, 3, 60]


def test_recorder_reported_length_gives_way_to_the_recordings_own(factory, make_member):
    member = make_member()
    with transaction(factory) as s:
        message_id = service.store_message(
            s,
            member.virtual_number_id,
            audio=wav(2.6, 440),
            duration_seconds=2.2,  # what the recorder said; the audio is 2.6 s long
            notify=mwi.queue_mwi,
        )
    with factory() as s:
        assert float(s.get(VoicemailMessage, message_id).duration_seconds) == 2.6


def test_download_names_are_in_the_accounts_time_with_the_zone_named(client, make_member, factory):
    """Issue 16: the page shows local times, so the zip and the files in it are named in them."""
    member = make_member(time_zone="America/Chicago")
    (message_id,) = _store(factory, member, 1.0, received=["2026-01-16 03:30:00"])  # 21:30 CST the 15th
    sign_in(client, member)
    response = client.get(f"/voicemail/{member.number}/download")
    assert response.status_code == 200
    assert re.search(
        rf'filename="voicemail-{member.number}-\d{{8}}-\d{{6}}-C[SD]T\.zip"',
        response.headers["Content-Disposition"],
    ), response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as zf:
        assert zf.namelist() == ["new-001-20260115T213000-CST-13125550000.wav"]
