from __future__ import annotations

import pytest_asyncio

from controller.app import Controller


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def controller(asterisk, database):
    """The real controller process parts (FastAGI, ARI, AMI, database) in this event loop,
    connected to the sandbox Asterisk instance of this run."""
    ctl = Controller(database)
    await ctl.start()
    assert await ctl.ami.wait_connected(20), "AMI link did not log in"
    await ctl.ari.connected.wait()
    yield ctl
    await ctl.stop()
