"""Voicemail: deposit, retrieval by phone, MWI and email (ARI apps `voicemail`, `voicemail-main`).

app.py       the two StasisApps and what they share
deposit.py   leaving a message            retrieval.py   listening by phone (keys documented there)
line.py      ARI adapter for one channel  media.py       audio put where Asterisk can play it
mwi.py       message-summary NOTIFY        service.py     the functions the panel's player shares
"""

from __future__ import annotations


def build(deps) -> list:
    from ari_apps.voicemail.app import build as _build

    return _build(deps)
