"""The counts of our mailboxes where app_voicemail reads them: the MWI state behind subscriptions.

res_pjsip_mwi answers a phone's SUBSCRIBE to message-summary with the counts of the mailbox
state provider. Debian's Asterisk has no res_mwi_external, so the provider is app_voicemail,
which counts the `msgNNNN.txt` files of <spool>/voicemail/<context>/<number>/INBOX (new) and Old
(saved), when a phone subscribes and on AMI VoicemailRefresh (voicemail.conf).

PostgreSQL holds the messages; this spool only mirrors how many there are: one small placeholder
`.txt` per message, no audio (nothing plays from here), and no directory for an empty mailbox.
`write` makes one mailbox's files say the counts read from the database; `write_all` does every
mailbox and empties those the database no longer has messages for. Files not named msg* are
left alone; a placeholder appears under its final name only once complete.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

# app_voicemail's context of our mailboxes: ps_aors.mailboxes is `<number>@default`
# (db/migrations/versions/0014_aor_mailboxes.py)
MWI_CONTEXT = "default"
NEW_FOLDER, SAVED_FOLDER, URGENT_FOLDER = "INBOX", "Old", "Urgent"
_MAILBOX = re.compile(r"[0-9A-Za-z_+-]+")


def counted(name: str) -> bool:
    """Whether app_voicemail counts a file of this name as a message: it starts with `msg` and
    has `txt` at offset 8, both case-insensitive (app_voicemail.c __has_voicemail)."""
    return name[:3].lower() == "msg" and name[8:11].lower() == "txt"


def _ours(name: str) -> bool:
    return name[:3].lower() == "msg"


def _file_name(n: int) -> str:
    return f"msg{n:04d}.txt"


class MwiSpool:
    """<voicemail_dir>/<context>/<number>/{INBOX,Old}: `voicemail_dir` as the controller sees
    Asterisk's spool/voicemail (settings.vm_media_local_dir)."""

    def __init__(self, voicemail_dir: str | Path, context: str = MWI_CONTEXT):
        self.root = Path(voicemail_dir) / context
        self.context = context

    def mailbox(self, number: str) -> str:
        """The mailbox's name for Asterisk (VoicemailRefresh, ps_aors.mailboxes)."""
        return f"{number}@{self.context}"

    def _dir(self, number: str) -> Path:
        if not _MAILBOX.fullmatch(number):
            raise ValueError(f"not a mailbox name: {number!r}")
        return self.root / number

    def counts(self, number: str) -> tuple[int, int]:
        """(new, saved) as app_voicemail counts them now (urgent messages count as new)."""
        box = self._dir(number)
        return (
            _count(box / NEW_FOLDER) + _count(box / URGENT_FOLDER),
            _count(box / SAVED_FOLDER),
        )

    def write(self, number: str, new: int, saved: int) -> bool:
        """Make the mailbox count (new, saved); True when a file changed. Every folder gets its
        new files before any is removed: a save (one new less, one saved more) never reads as a
        mailbox with a message less, should app_voicemail count in between."""
        box = self._dir(number)
        folders = {box / NEW_FOLDER: new, box / SAVED_FOLDER: saved, box / URGENT_FOLDER: 0}
        changed = False
        for folder, count in folders.items():
            changed |= _add(folder, count, number, self.context)
        for folder, count in folders.items():
            changed |= _remove_extra(folder, count)
        if new == 0 and saved == 0:
            _remove_empty(*folders, box)
        return changed

    def write_all(self, counts: Mapping[str, tuple[int, int]]) -> list[str]:
        """Every mailbox with messages as `counts` says, every other one emptied; the numbers
        whose files changed."""
        changed = [number for number, (new, saved) in counts.items() if self.write(number, new, saved)]
        for number in self.mailboxes():
            if number not in counts and self.write(number, 0, 0):
                changed.append(number)
        return changed

    def mailboxes(self) -> list[str]:
        """The numbers that have a directory here."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return [e.name for e in entries if e.is_dir(follow_symlinks=False) and _MAILBOX.fullmatch(e.name)]


def _count(folder: Path) -> int:
    try:
        return sum(1 for name in os.listdir(folder) if counted(name))
    except FileNotFoundError:
        return 0


def _listing(folder: Path) -> set[str] | None:
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return None


def _add(folder: Path, count: int, number: str, context: str) -> bool:
    """The placeholders msg0000.txt... msg<count-1>.txt that `folder` lacks."""
    present = _listing(folder)
    if present is None:
        if count == 0:
            return False
        _make_dirs(folder)
        present = set()
    missing = sorted({_file_name(n) for n in range(count)} - present)
    for name in missing:
        _write_placeholder(folder / name, number, context)
    return bool(missing)


def _remove_extra(folder: Path, count: int) -> bool:
    """Every msg* file of `folder` beyond msg0000.txt... msg<count-1>.txt."""
    wanted = {_file_name(n) for n in range(count)}
    changed = False
    for name in sorted(n for n in _listing(folder) or () if _ours(n) and n not in wanted):
        try:
            (folder / name).unlink()
            changed = True
        except FileNotFoundError:
            pass
    return changed


def _write_placeholder(path: Path, number: str, context: str) -> None:
    # not named msg* until complete: app_voicemail counts names only, but an operator may read it
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(
        ";\n; One message of this mailbox, counted by app_voicemail for MWI. The message itself is\n"
        "; in PostgreSQL (voicemail_messages); the controller keeps these files (spool.py).\n;\n"
        f"[message]\norigmailbox={number}\ncontext={context}\n"
    )
    os.chmod(tmp, 0o644)  # Asterisk may run as another user: it reads, only we write
    os.replace(tmp, path)


def _make_dirs(folder: Path) -> None:
    missing = []
    parent = folder
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        # readable by Asterisk whatever our umask; keeps a setgid bit inherited from the spool
        os.chmod(d, stat.S_IMODE(d.stat().st_mode) | 0o755)


def _remove_empty(*dirs: Path) -> None:
    for d in dirs:
        try:
            d.rmdir()
        except OSError:  # missing, or holds something that is not ours
            pass
