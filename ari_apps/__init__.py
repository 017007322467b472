"""ARI (Stasis) applications: conferences and voicemail. `build_apps` is the one registry."""
from __future__ import annotations

from agi.deps import Deps


def build_apps(deps: Deps) -> list:
    """Every Stasis app the controller runs. Add new apps here (explicit, no scanning)."""
    apps: list = []
    return apps
