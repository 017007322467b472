"""Voicemail survives an Asterisk restart: the ARI client reconnects by itself (ClientConnected),
and the next caller leaves a message like before."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.wait import until
from tests.voicemail.helpers import leave_message, vm_member, wait_for_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_message_can_be_left_after_asterisk_restarted(controller, asterisk, factory, settings):
    m = vm_member(factory, settings, email=None)
    ari_connects, ami_logins = controller.ari.connects, controller.ami.logins
    await asyncio.to_thread(asterisk.restart)
    await until(
        lambda: controller.ari.connects > ari_connects and controller.ari.connected.is_set(),
        timeout=30,
        what="ARI to reconnect",
    )
    await until(
        lambda: controller.ami.logins > ami_logins and controller.ami.connected,
        timeout=30,
        what="AMI to log in again",
    )
    await leave_message(controller, m.number, wait=1)
    [msg] = await wait_for_messages(factory, m, 1)
    assert msg.duration_seconds > 2
