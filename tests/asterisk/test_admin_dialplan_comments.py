"""Review of issue 13 item 9: the Asterisk fact behind asterisk_conf.overrides refusing `;--` and
`--;` anywhere in a line. Asterisk 22 opens a block comment at `;--` in the middle of a line and
reads what follows `--;` as live config, so a text whose second line is, to a line-by-line
reader, a plain `;` comment defines an extension in Asterisk: one that dials a trunk. Shown on
the real sandbox (the file written directly, as the validator before the fix let it through),
and refused by the validator now."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from asterisk_conf import overrides
from asterisk_conf.render import render_all
from controller.services.ami import AMIError, AMILink, AMISession

HIDDEN = (
    "[admin-cmt]\n"
    "exten => s,1,NoOp() ;-- looks like a trailing comment\n"
    "; --;exten => *7878,1,Dial(PJSIP/18005551212@pstn-trunk)\n"
)


def _members_has(ami: AMISession, exten: str) -> bool:
    return f"'{exten}' =>" in ami.command(f"dialplan show {exten}@members", check=False)


def test_a_line_that_reads_as_a_comment_is_live_dialplan_in_asterisk(asterisk, database):
    assert overrides.parse(HIDDEN, strict=False).contexts == {
        "admin-cmt": {"s": overrides.Extension("admin-cmt", "s", 2, [])}
    }
    # the line-by-line reader sees no *7878 and no [members]; Asterisk does
    live_file = Path(database.asterisk_config_dir) / overrides.ADMIN_FILE
    previous = live_file.read_text()
    try:
        live_file.write_text(overrides.file_text(HIDDEN.replace("[admin-cmt]", "[members]")))
        with AMISession(database) as ami:
            ami.command("dialplan reload")
            deadline = time.monotonic() + 10
            while not _members_has(ami, "*7878") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _members_has(ami, "*7878"), ami.command("dialplan show *7878@members", check=False)
    finally:
        live_file.write_text(previous)
        with AMISession(database) as ami:
            ami.command("dialplan reload")
            assert not _members_has(ami, "*7878")
    problems = [str(p) for p in overrides.validate(HIDDEN, generated=render_all(database)["extensions.conf"])]
    assert any(p.startswith("Line 2: Block comments") for p in problems), problems
    assert any(p.startswith("Line 3: Block comments") for p in problems), problems


# GosubIf(cond?true(args):false) substitutes first, then splits: a caller ID name of
# `x):admin-gsevil,s,1(` (here put there by a wrapper, as a SIP From display name would) closes
# the argument list early and writes the false destination. The text the validator now refuses:
GOSUBIF = (
    "[admin-gsw]\n"
    "exten => s,1,Read(N,beep,1)\n"
    " same => n,GosubIf($[${N} = 9]?admin-gsok,s,1(${CALLERID(name)}):admin-gsok,s,1)\n"
    "[admin-gsok]\n"
    "exten => s,1,Return()\n"
)
# ... and as written to Asterisk directly: the caller's name set by a wrapper (pbx_config takes
# the data between the first ( and the last ), and Set the value after the first =), no Read()
GOSUBIF_LIVE = """[admin-gsw]
exten => s,1,Set(CALLERID(name)=x):admin-gsevil,s,1()
 same => n,GosubIf($[1 = 2]?admin-gsok,s,1(${CALLERID(name)}):admin-gsok,s,1)
 same => n,Hangup()
[admin-gsok]
exten => s,1,Set(GLOBAL(GS_HIT)=ok)
 same => n,Return()
[admin-gsevil]
exten => s,1,Set(GLOBAL(GS_HIT)=evil)
 same => n,Return()
"""


async def _run_context(settings, context: str) -> object:
    """Run extension s of `context` on a Local channel; the originate's answer (it comes only if
    the context answers: the dialplan runs either way)."""
    link = AMILink(settings, events=False)
    await link.open(10)
    try:
        return await link.originate(f"Local/s@{context}/n", application="Wait", data="1", wait=2)
    except AMIError as exc:
        return str(exc)
    finally:
        await link.logoff()
        link.close()


def test_gosubif_arguments_from_the_caller_choose_the_destination_in_asterisk(asterisk, database):
    live_file = Path(database.asterisk_config_dir) / overrides.ADMIN_FILE
    previous = live_file.read_text()
    try:
        live_file.write_text(overrides.file_text(GOSUBIF_LIVE))
        with AMISession(database) as ami:
            ami.command("dialplan reload")
            time.sleep(0.5)
            # what Asterisk's own parser does with the arguments, not a member's call: a Local
            # channel runs [admin-gsw] (AMI Originate; the sandbox loads no res_clioriginate)
            started = asyncio.run(_run_context(database, "admin-gsw"))
            deadline, shown = time.monotonic() + 10, ""
            while "GS_HIT=" not in shown and time.monotonic() < deadline:
                time.sleep(0.2)
                shown = ami.command("dialplan show globals", check=False)
            assert "GS_HIT=evil" in shown, (started, shown, asterisk.log_path.read_text()[-3000:])
    finally:
        live_file.write_text(previous)
        with AMISession(database) as ami:
            ami.command("dialplan reload")
    problems = [
        str(p) for p in overrides.validate(GOSUBIF, generated=render_all(database)["extensions.conf"])
    ]
    assert any("GosubIf: the arguments" in p for p in problems), problems


# Python's str.splitlines() also breaks lines at \v \f \x1c-\x1e \x85 \u2028 \u2029; Asterisk
# reads config lines up to \n only. To a splitlines() reader these are two harmless lines; to
# Asterisk, one Dial whose data runs to the last ")" and whose second target is a trunk.
SPLIT = (
    "[admin-sep]\nexten => s,1,Dial(Local/s@admin-sep){sep}exten => t,1,NoOp(&PJSIP/18005551212@pstn-trunk)\n"
)


@pytest.mark.parametrize("sep", ["\x0b", "\x0c", "\x1e", "\x85", "\u2028"])
def test_a_line_break_only_python_sees_is_one_line_to_asterisk(asterisk, database, sep):
    body = SPLIT.format(sep=sep)
    assert len(body.splitlines()) == 3  # what the validator used to read
    live_file = Path(database.asterisk_config_dir) / overrides.ADMIN_FILE
    previous = live_file.read_text()
    try:
        live_file.write_text(overrides.file_text(body))
        with AMISession(database) as ami:
            ami.command("dialplan reload")
            deadline, shown = time.monotonic() + 10, ""
            while "Dial(" not in shown and time.monotonic() < deadline:
                time.sleep(0.2)
                shown = ami.command("dialplan show admin-sep", check=False)
            assert "&PJSIP/18005551212@pstn-trunk" in shown and "'t' =>" not in shown, shown
    finally:
        live_file.write_text(previous)
        with AMISession(database) as ami:
            ami.command("dialplan reload")
    problems = [str(p) for p in overrides.validate(body, generated=render_all(database)["extensions.conf"])]
    assert any(p.startswith("Line 2: The line contains control characters") for p in problems), problems
