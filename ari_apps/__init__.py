"""ARI (Stasis) applications: conferences and voicemail. `build_apps` is the one registry."""

from __future__ import annotations

from controller.services.deps import Deps


def build_apps(deps: Deps) -> list:
    """Every Stasis app the controller runs. Add new apps here (explicit, no scanning)."""
    apps: list = []
    from ari_apps.conference import ConferenceApp

    apps.append(ConferenceApp(deps))
    from ari_apps import voicemail

    apps.extend(voicemail.build(deps))  # voicemail (deposit), voicemail-main (retrieval)
    return apps
