"""The service functions the phone flows and the panel's player share, on the real PostgreSQL:
counts, order, ownership, save/delete with the MWI notifier, zip, and the pg_notify hand-off."""

from __future__ import annotations

import io
import zipfile

import psycopg
import pytest

from controller.services.voicemail import mwi, service
from tests.support.members import make_member
from tests.voicemail.helpers import wav


class Notifier:
    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, session, vn_id: int) -> None:
        self.calls.append(vn_id)


@pytest.fixture()
def box(factory, settings):
    return make_member(factory, settings)


def store(factory, vn_id, n: int, notify) -> list[int]:
    with factory() as s, s.begin():
        return [
            service.store_message(
                s,
                vn_id,
                audio=wav(0.2 * (i + 1), 300 + 50 * i),
                duration_seconds=0.2 * (i + 1),
                caller_name=f"Caller {i}",
                caller_number=f"1312555000{i}",
                notify=notify,
            )
            for i in range(n)
        ]


def test_new_messages_count_and_list_before_saved_ones_oldest_first(factory, box):
    notify = Notifier()
    a, b, c = store(factory, box.vn_id, 3, notify)
    assert notify.calls == [box.vn_id] * 3
    with factory() as s, s.begin():
        assert service.save_message(s, box.vn_id, a, notify=notify)
    with factory() as s:
        assert service.counts(s, box.vn_id) == (2, 1)
        assert [(m.id, m.folder) for m in service.list_messages(s, box.vn_id)] == [
            (b, "new"),
            (c, "new"),
            (a, "saved"),
        ]
        assert [m.id for m in service.list_messages(s, box.vn_id, "saved")] == [a]
        audio, fmt = service.get_audio(s, box.vn_id, b)
        assert fmt == "wav" and abs(service.wav_seconds(audio) - 0.4) < 0.01
    assert notify.calls == [box.vn_id] * 4


def test_another_mailbox_cannot_read_save_or_delete_a_message(factory, settings, box):
    other = make_member(factory, settings)
    notify = Notifier()
    [msg] = store(factory, box.vn_id, 1, notify)
    notify.calls.clear()
    with factory() as s, s.begin():
        assert service.get_audio(s, other.vn_id, msg) is None
        assert not service.save_message(s, other.vn_id, msg, notify=notify)
        assert not service.delete_message(s, other.vn_id, msg, notify=notify)
    assert notify.calls == []
    with factory() as s:
        assert service.counts(s, box.vn_id) == (1, 0)


def test_delete_removes_and_notifies_once(factory, box):
    notify = Notifier()
    [msg] = store(factory, box.vn_id, 1, notify)
    with factory() as s, s.begin():
        assert service.delete_message(s, box.vn_id, msg, notify=notify)
        assert not service.delete_message(s, box.vn_id, msg, notify=notify)
    assert notify.calls == [box.vn_id] * 2
    with factory() as s:
        assert service.counts(s, box.vn_id) == (0, 0)


def test_zip_holds_every_message_in_play_order(factory, box):
    notify = Notifier()
    a, b = store(factory, box.vn_id, 2, notify)
    with factory() as s, s.begin():
        service.save_message(s, box.vn_id, a, notify=notify)
    with factory() as s:
        data = service.zip_messages(s, box.vn_id)
        first = service.get_audio(s, box.vn_id, b)[0]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert [n.split("-")[:2] for n in names] == [["new", "001"], ["saved", "001"]]
        assert names[0].endswith("-13125550001.wav")
        assert zf.read(names[0]) == first


def test_queue_mwi_reaches_a_listener_only_when_the_change_commits(factory, settings, box):
    conninfo = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {mwi.MWI_CHANNEL}")
        with factory() as s:
            service.store_message(s, box.vn_id, audio=wav(0.2), duration_seconds=0.2, notify=mwi.queue_mwi)
            s.rollback()
        assert [n.payload for n in listener.notifies(timeout=0.5)] == []
        store(factory, box.vn_id, 1, mwi.queue_mwi)
        assert [n.payload for n in listener.notifies(timeout=2, stop_after=1)] == [str(box.vn_id)]
