from __future__ import annotations

import pytest

from tests.conference.phones import AriRecorder, Phones
from tests.support.smtp import smtp_server  # noqa: F401  (function-scoped aiosmtpd on loopback)


@pytest.fixture()
def ari_events(controller):
    """ARI events the conference tests look at (playbacks, hangups, recordings, test phones)."""
    rec = AriRecorder(
        controller.ari,
        "PlaybackStarted",
        "PlaybackFinished",
        "StasisStart",
        "StasisEnd",
        "ChannelDestroyed",
        "RecordingFinished",
        "BridgeDestroyed",
    )
    yield rec
    rec.close()


@pytest.fixture()
def conference_app(controller):
    return controller.stasis.apps["conference"]


@pytest.fixture()
async def phones(controller, ari_events):
    """Test callers; whatever is still up at the end of the test is hung up."""
    p = Phones(controller, ari_events)
    yield p
    await p.hang_up_all()
