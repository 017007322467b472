"""The MWI spool (controller/services/voicemail/spool.py) on its own, in a temporary directory:
the files app_voicemail counts for subscribed phones say exactly the counts they are given."""

from __future__ import annotations

import os
import stat

import pytest

from controller.services.voicemail.mwi import voicemail_refresh_action
from controller.services.voicemail.spool import MWI_CONTEXT, MwiSpool, counted


@pytest.fixture()
def spool(tmp_path) -> MwiSpool:
    return MwiSpool(tmp_path / "voicemail")


def names(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize(
    ("name", "is_counted"),
    [
        ("msg0000.txt", True),
        ("MSG0012.TXT", True),
        ("msg0000.wav", False),
        (".msg0000.txt.1f2e.tmp", False),
        ("greeting-4-abc.wav", False),
        ("msg-4-abc.wav", False),
    ],
)
def test_counted_is_app_voicemails_rule(name, is_counted):
    # app_voicemail.c __has_voicemail: a name starting "msg" with "txt" at offset 8
    assert counted(name) is is_counted


def test_a_mailbox_gets_one_file_per_message_in_inbox_and_old(spool):
    assert spool.write("17005550001", 2, 1)
    box = spool.root / "17005550001"
    assert spool.root.name == MWI_CONTEXT == "default"
    assert names(box / "INBOX") == ["msg0000.txt", "msg0001.txt"]
    assert names(box / "Old") == ["msg0000.txt"]
    assert spool.counts("17005550001") == (2, 1)
    assert "origmailbox=17005550001" in (box / "INBOX" / "msg0000.txt").read_text()
    assert not spool.write("17005550001", 2, 1)  # nothing to change


def test_fewer_messages_remove_files_and_strays_but_not_what_is_not_ours(spool):
    spool.write("17005550001", 3, 0)
    inbox = spool.root / "17005550001" / "INBOX"
    (inbox / "msg0042.txt").write_text("[message]\n")
    (inbox / "notes.txt").write_text("someone else's\n")
    assert spool.counts("17005550001") == (4, 0)
    assert spool.write("17005550001", 1, 1)
    assert names(inbox) == ["msg0000.txt", "notes.txt"]
    assert spool.counts("17005550001") == (1, 1)


def test_urgent_messages_count_as_new_and_are_never_ours(spool):
    urgent = spool.root / "17005550001" / "Urgent"
    urgent.mkdir(parents=True)
    (urgent / "msg0000.txt").write_text("[message]\n")
    assert spool.counts("17005550001") == (1, 0)
    assert spool.write("17005550001", 1, 0)
    assert spool.counts("17005550001") == (1, 0)
    assert not urgent.exists() or names(urgent) == []


def test_an_empty_mailbox_has_no_directory_unless_something_else_lives_there(spool):
    spool.write("17005550001", 1, 1)
    spool.write("17005550002", 1, 0)
    (spool.root / "17005550002" / "INBOX" / "keep.me").write_text("")
    assert spool.write("17005550001", 0, 0)
    assert not (spool.root / "17005550001").exists()
    spool.write("17005550002", 0, 0)
    assert names(spool.root / "17005550002" / "INBOX") == ["keep.me"]
    assert spool.counts("17005550001") == spool.counts("17005550002") == (0, 0)
    assert not spool.write("17005550003", 0, 0)  # never had any


def test_write_all_sets_every_mailbox_and_empties_the_others(spool):
    spool.write("17005550001", 5, 5)
    spool.write("17005550002", 1, 0)
    (spool.root / "not-a.mailbox").mkdir()
    changed = spool.write_all({"17005550002": (1, 0), "17005550003": (0, 2)})
    assert sorted(changed) == ["17005550001", "17005550003"]
    assert spool.counts("17005550001") == (0, 0) and not (spool.root / "17005550001").exists()
    assert spool.counts("17005550002") == (1, 0)
    assert spool.counts("17005550003") == (0, 2)
    assert (spool.root / "not-a.mailbox").is_dir()
    assert spool.write_all({"17005550002": (1, 0), "17005550003": (0, 2)}) == []


def test_files_are_readable_by_asterisk_whatever_the_umask(spool):
    old = os.umask(0o077)
    try:
        spool.write("17005550001", 1, 0)
    finally:
        os.umask(old)
    box = spool.root / "17005550001"
    for d in (spool.root, box, box / "INBOX"):
        assert stat.S_IMODE(d.stat().st_mode) & 0o755 == 0o755, d
    assert stat.S_IMODE((box / "INBOX" / "msg0000.txt").stat().st_mode) == 0o644


@pytest.mark.parametrize("name", ["../17005550001", "1700/555", "", "17005550001@default"])
def test_a_name_that_is_not_a_mailbox_is_refused(spool, name):
    with pytest.raises(ValueError):
        spool.write(name, 1, 0)


def test_voicemail_refresh_names_the_context_and_the_mailbox(spool):
    assert spool.mailbox("17005550001") == "17005550001@default"
    assert voicemail_refresh_action(spool, "17005550001") == {
        "Action": "VoicemailRefresh",
        "Context": "default",
        "Mailbox": "17005550001",
    }
    assert voicemail_refresh_action(spool) == {"Action": "VoicemailRefresh", "Context": "default"}
