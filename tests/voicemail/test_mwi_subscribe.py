"""MWI by subscription: a member's phone, registered with its own credentials, SUBSCRIBEs to
message-summary for its number (as many desk phones and softphones do instead of waiting for
unsolicited NOTIFYs) and is kept current with the counts of our voicemail store (PostgreSQL)
through every deposit, save and delete: a SIPp phone (tests/sipp/subscribe_mwi.xml) and a real
softphone (baresip's mwi module). Before res_pjsip_mwi served subscriptions, Asterisk answered
that SUBSCRIBE `489 Bad Event`. Asterisk's side: app_voicemail counting the spool the controller
keeps (controller/services/voicemail/spool.py); tests/voicemail/test_mwi_spool.py tests that
spool on its own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from controller.services.voicemail import mwi, service
from tests.support.baresip import Softphone, baresip_binary, write_tone
from tests.support.realparts import unavailable
from tests.support.sipp import SCENARIOS, free_udp_port, run_scenario, sipp_binary
from tests.support.wait import until
from tests.voicemail.helpers import (
    counts,
    leave_message,
    seed_messages,
    vm_member,
    wait_for_messages,
    wav,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


class SubscribingPhone:
    """A registered phone that subscribes to message-summary: SIPp REGISTERs `number` from port
    P, then SUBSCRIBEs (tests/sipp/subscribe_mwi.xml) from P for its own number and answers the
    subscription's NOTIFYs; `summaries()` reads their counts back in arrival order as
    (waiting, new, old)."""

    LINE = re.compile(r"MWI waiting=(yes|no) new=(\d+) old=(\d+) state=(\w+)")

    def __init__(
        self,
        number: str,
        password: str,
        *,
        host: str,
        port: int,
        cwd: Path,
        timeout: int = 120,
    ):
        binary = sipp_binary()
        if binary is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        self.number, self.sip_port = number, free_udp_port()
        self.log = cwd / f"subscribe-{number}.log"
        self.errors = cwd / f"subscribe-{number}.err"
        reg = run_scenario(
            "register.xml",
            host,
            port,
            service=number,
            auth_user=number,
            auth_password=password,
            cwd=cwd,
            local_port=self.sip_port,
        )
        if not reg.ok:
            raise RuntimeError(f"phone {number} could not register: {reg.stdout[-1500:]}")
        self.proc = subprocess.Popen(
            [
                binary,
                f"{host}:{port}",
                "-sf",
                str(SCENARIOS / "subscribe_mwi.xml"),
                "-s",
                number,
                "-au",
                number,
                "-ap",
                password,
                "-i",
                "127.0.0.1",
                "-p",
                str(self.sip_port),
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                f"{timeout}s",
                "-timeout_error",
                "-trace_logs",
                "-log_file",
                str(self.log),
                "-trace_err",
                "-error_file",
                str(self.errors),
            ],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _log(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def accepted(self) -> bool:
        return "SUBSCRIBE answered 200" in self._log()

    def refusal(self) -> str:
        """What SIPp says about the call it aborted (the unexpected response), if it did."""
        return self.errors.read_text()[-1500:] if self.errors.exists() else ""

    def summaries(self) -> list[tuple[str, int, int]]:
        return [(m[1], int(m[2]), int(m[3])) for m in self.LINE.finditer(self._log())]

    def states(self) -> list[str]:
        return [m[4] for m in self.LINE.finditer(self._log())]

    async def wait_subscribed(self, timeout: float = 15) -> None:
        await until(
            lambda: self.accepted() or self.proc.poll() is not None,
            timeout=timeout,
            what=f"an answer to the SUBSCRIBE of {self.number}",
        )
        assert self.accepted(), f"the SUBSCRIBE was not accepted: {self.refusal()}"

    async def wait_for(
        self, summary: tuple[str, int, int], timeout: float = 30
    ) -> list[tuple[str, int, int]]:
        """Until the latest NOTIFY says `summary`; all the NOTIFYs so far."""
        await until(
            lambda: self.summaries()[-1:] == [summary] or self.proc.poll() is not None,
            timeout=timeout,
            what=f"a NOTIFY {summary} at the phone of {self.number} (got {self.summaries()})",
        )
        assert self.summaries()[-1:] == [summary], f"SIPp gave up: {self.refusal()}"
        return self.summaries()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def write(factory, fn, *args) -> None:
    """A change made the way the panel makes it: the service function, MWI queued."""
    with factory() as s, s.begin():
        assert fn(s, *args, notify=mwi.queue_mwi)


async def test_subscribing_phone_gets_the_counts_and_every_deposit_save_and_delete(
    controller, factory, settings, tmp_path, need_sipp
):
    m = vm_member(factory, settings, email=None)
    phone = SubscribingPhone(
        m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        await phone.wait_subscribed()
        await phone.wait_for(("no", 0, 0))
        # a caller leaves a message through the voicemail service (a real call)
        await leave_message(controller, m.number, wait=1)
        [deposited] = await wait_for_messages(factory, m, 1)
        await phone.wait_for(("yes", 1, 0))
        [seeded] = seed_messages(factory, m, 1.0)
        await phone.wait_for(("yes", 2, 0))
        write(factory, service.save_message, m.vn_id, deposited.id)
        await phone.wait_for(("yes", 1, 1))
        write(factory, service.delete_message, m.vn_id, seeded)
        await phone.wait_for(("no", 0, 1))
        write(factory, service.delete_message, m.vn_id, deposited.id)
        seen = await phone.wait_for(("no", 0, 0))
    finally:
        phone.stop()
    # one NOTIFY per change, each with the store's counts at that moment, the dialog kept active
    assert seen == [("no", 0, 0), ("yes", 1, 0), ("yes", 2, 0), ("yes", 1, 1), ("no", 0, 1), ("no", 0, 0)]
    assert set(phone.states()) == {"active"}


async def test_a_phone_subscribing_to_a_mailbox_with_messages_gets_them_then_sees_it_emptied(
    controller, factory, settings, tmp_path, need_sipp
):
    m = vm_member(factory, settings, email=None)
    first, second = seed_messages(factory, m, 1.0, 1.0)
    write(factory, service.save_message, m.vn_id, first)
    spool = controller.stasis.apps["voicemail"].service.ctx.mwi.spool
    await until(lambda: spool.counts(m.number) == (1, 1), what="the controller to write the counts")
    phone = SubscribingPhone(
        m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        await phone.wait_subscribed()
        assert (await phone.wait_for(("yes", 1, 1)))[0] == ("yes", 1, 1)
        # both gone in one transaction (one change): app_voicemail had published nothing for this
        # mailbox yet (the phone's counts came straight from the spool), and must not take the
        # empty mailbox for "unchanged"
        with factory() as s, s.begin():
            for message in (first, second):
                assert service.delete_message(s, m.vn_id, message, notify=mwi.queue_mwi)
        seen = await phone.wait_for(("no", 0, 0))
    finally:
        phone.stop()
    # the first NOTIFY had the counts; the state before the change may come again (the pre-change
    # refresh, app_voicemail's poll), never a count the store did not have
    assert seen[0] == ("yes", 1, 1) and set(seen) == {("yes", 1, 1), ("no", 0, 0)}, seen


async def test_after_changes_nobody_announced_the_spool_is_rewritten_from_postgresql(
    controller, factory, settings, tmp_path, need_sipp
):
    """What the LISTEN connection does each time it (re)connects: changes committed while the
    controller was not listening, and a spool someone else touched, give way to the store."""
    mwi_sender = controller.stasis.apps["voicemail"].service.ctx.mwi
    spool = mwi_sender.spool
    m = vm_member(factory, settings, email=None)
    seed_messages(factory, m, 1.0)
    await until(lambda: spool.counts(m.number) == (1, 0), what="the controller to write the counts")
    phone = SubscribingPhone(
        m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        await phone.wait_subscribed()
        await phone.wait_for(("yes", 1, 0))
        # committed with no MWI queued: as if the controller had been away
        with factory() as s, s.begin():
            service.store_message(
                s, m.vn_id, audio=wav(1.0), duration_seconds=1.0, notify=lambda session, vn_id: None
            )
        # a stray file where app_voicemail counts, and a mailbox the store has no messages for
        (spool.root / m.number / "Old").mkdir()
        (spool.root / m.number / "Old" / "msg0007.txt").write_text("[message]\n")
        gone = vm_member(factory, settings, email=None)
        spool.write(gone.number, 3, 0)
        assert spool.counts(m.number) == (1, 1)

        assert await mwi_sender.resync()
        seen = await phone.wait_for(("yes", 2, 0))
    finally:
        phone.stop()
    # not the stray file's 1/1: the store's counts only (app_voicemail's poll may repeat 1/0)
    assert seen[0] == ("yes", 1, 0) and set(seen) == {("yes", 1, 0), ("yes", 2, 0)}, seen
    assert counts(factory, m) == spool.counts(m.number) == (2, 0)
    assert spool.counts(gone.number) == (0, 0) and not (spool.root / gone.number).exists()


class MwiSoftphone(Softphone):
    """baresip with its mwi module, the account's MWI on: it SUBSCRIBEs once registered and
    reports each NOTIFY's body as an MWI_NOTIFY event."""

    def _write_config(self, sip_port: int, ctrl_port: int) -> None:
        super()._write_config(sip_port, ctrl_port)
        config = self.config_dir / "config"
        config.write_text(config.read_text() + "module_app mwi.so\n")

    def account_line(self) -> str:
        line = super().account_line()
        assert ";mwi=no" in line
        return line.replace(";mwi=no", ";mwi=yes")

    def bodies(self) -> list[str]:
        return [e["param"] for e in self.events if e.get("type") == "MWI_NOTIFY"]


async def test_a_real_softphone_subscribes_and_its_lamp_follows_the_store(
    controller, factory, settings, tmp_path
):
    if baresip_binary() is None:
        unavailable("baresip (Debian package baresip)")
    m = vm_member(factory, settings, email=None)
    [seeded] = seed_messages(factory, m, 1.0)
    spool = controller.stasis.apps["voicemail"].service.ctx.mwi.spool
    await until(lambda: spool.counts(m.number) == (1, 0), what="the controller to write the counts")
    phone = MwiSoftphone(
        m.number,
        m.sip_password,
        realm=settings.sip_realm,
        host=settings.asterisk_host,
        port=settings.sip_port,
        workdir=tmp_path,
        microphone=write_tone(tmp_path / "microphone.wav", 440.0, seconds=1),
    )
    await phone.start()
    try:
        await phone.registered()
        waiting = "Messages-Waiting: yes\r\nVoice-Message: 1/0 (0/0)\r\n"
        await until(
            lambda: phone.bodies()[:1] == [waiting], timeout=15, what=f"{waiting!r} ({phone.bodies()})"
        )
        write(factory, service.delete_message, m.vn_id, seeded)
        none = "Messages-Waiting: no\r\nVoice-Message: 0/0 (0/0)\r\n"
        await until(lambda: phone.bodies()[-1:] == [none], timeout=15, what=f"{none!r} ({phone.bodies()})")
    finally:
        await phone.stop()
    # as with SIPp: the state before the change may come again, nothing else
    assert phone.bodies()[0] == waiting and set(phone.bodies()) == {waiting, none}, phone.bodies()
