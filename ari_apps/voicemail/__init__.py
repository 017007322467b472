"""Voicemail: deposit, retrieval by phone, MWI and email (ARI apps `voicemail`, `voicemail-main`).

app.py       the two StasisApps and what they share   context.py    what the flows share
deposit.py   leaving a message                         retrieval.py  listening by phone (keys there)
The ARI adapter for one channel is ari_apps/line.py (shared with the conference app); the data,
the media dir and MWI are shared services (controller/services/voicemail/: service.py, media.py,
mwi.py).
"""

from __future__ import annotations


def build(deps) -> list:
    from ari_apps.voicemail.app import build as _build

    return _build(deps)
