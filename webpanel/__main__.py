"""`python -m webpanel` (or `voip-panel`): serve the panel on VOIP_PANEL_HOST:VOIP_PANEL_PORT.

By default this runs Werkzeug's threaded server (`run_simple(threaded=True)`, no reloader, no
debugger): enough for the sandbox and development. Its one process runs Python on one CPU at a
time. With VOIP_PANEL_WORKERS set (and granian installed: the `prod` extra), as production
runs it (docker/compose.yaml), it serves through granian instead: that many worker processes
of VOIP_PANEL_THREADS (default 1) threads each, each building its own app (and database pool).
See bench/panel_call_history.py for what each costs (issue 16: granian's HTTP costs about a
millisecond less CPU a request than gunicorn's gthread worker, and one thread a process
answers in arrival order, with no GIL contention between a process's requests).
"""

from __future__ import annotations

import logging
import os

from werkzeug.serving import run_simple

from controller.settings import load
from webpanel import create_app

log = logging.getLogger("webpanel")


def main() -> None:
    settings = load()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    workers = _workers()
    if workers:
        try:
            _serve_with_granian(settings, workers)
            return
        except ImportError:
            log.warning(
                "VOIP_PANEL_WORKERS is set but granian is not installed (pip install "
                "-e '.[prod]'): serving with Werkzeug instead"
            )
    # Werkzeug logs every request at INFO unless its logger has a level of its own
    logging.getLogger("werkzeug").setLevel(settings.log_level)
    app = create_app({"VOIP_SETTINGS": settings})
    run_simple(
        settings.panel_host, settings.panel_port, app, threaded=True, use_reloader=False, use_debugger=False
    )


def _workers() -> int:
    return _count("VOIP_PANEL_WORKERS", 0, 0)


def _threads() -> int:
    return _count("VOIP_PANEL_THREADS", 1, 1)


def _count(name: str, default: int, least: int) -> int:
    """A whole number from `least` to 64 in the environment variable `name` (`default` unset)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None
    if not least <= value <= 64:
        raise SystemExit(f"{name} must be between {least} and 64, not {value}")
    return value


def _serve_with_granian(settings, workers: int) -> None:
    """Production's server (docker/compose.yaml): granian's HTTP in Rust in front of the same
    app factory, `workers` processes of VOIP_PANEL_THREADS (default 1) Python threads each.
    Each worker builds its own app (and database pool) from the environment's settings."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(
        "webpanel:create_app",
        factory=True,
        address=settings.panel_host,
        port=settings.panel_port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=_threads(),
        respawn_failed_workers=True,
        websockets=False,  # a WSGI app has none (granian would log that it ignores them)
        log_level=LogLevels(settings.log_level.lower()),
    ).serve()


if __name__ == "__main__":
    main()
