from __future__ import annotations

import pytest

from tests.support.smtp import smtp_server  # noqa: F401  (function-scoped aiosmtpd on loopback)
from tests.conference.phones import AriRecorder


@pytest.fixture()
def ari_events(controller):
    """ARI events the conference tests look at (playbacks, hangups, recordings, test phones)."""
    rec = AriRecorder(controller.ari, "PlaybackStarted", "PlaybackFinished", "StasisStart", "StasisEnd",
                      "ChannelDestroyed", "RecordingFinished", "BridgeDestroyed")
    yield rec
    rec.close()


@pytest.fixture()
def conference_app(controller):
    return controller.stasis.apps["conference"]
