from __future__ import annotations

import pytest

from tests.support.events import StasisRecorder
from tests.support.smtp import smtp_server  # noqa: F401


@pytest.fixture()
def stasis(controller):
    """StasisStart events, channels left to the apps that own them."""
    rec = StasisRecorder(controller.ari, hang_up=False)
    yield rec
    rec.close()


@pytest.fixture()
def ari_events(controller):
    """Every ARI event while the test runs (playbacks, recordings...)."""
    seen: list[dict] = []

    async def record(event):
        seen.append(event)

    controller.ari.on("*", record)
    yield seen
    controller.ari.off("*", record)
