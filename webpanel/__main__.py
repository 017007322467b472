"""`python -m webpanel` (or `voip-panel`): serve the panel on VOIP_PANEL_HOST:VOIP_PANEL_PORT.

By default this runs Werkzeug's threaded server (`run_simple(threaded=True)`, no reloader, no
debugger): enough for the sandbox and development. Its one process runs Python on one CPU at a
time. Production runs the same factory under gunicorn (docker/compose.yaml:
`gunicorn --workers=${VOIP_PANEL_WORKERS:-4} --worker-class=gthread --threads=4 'webpanel:create_app()'`). With
VOIP_PANEL_WORKERS set (and gunicorn installed: the `prod` extra), this serves that way too:
that many worker processes of 4 threads each, each building its own app (and database pool) after the fork.
See bench/panel_call_history.py for what each costs.
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
            _serve_with_gunicorn(settings, workers)
            return
        except ImportError:
            log.warning(
                "VOIP_PANEL_WORKERS is set but gunicorn is not installed (pip install "
                "-e '.[prod]'): serving with Werkzeug instead"
            )
    # Werkzeug logs every request at INFO unless its logger has a level of its own
    logging.getLogger("werkzeug").setLevel(settings.log_level)
    app = create_app({"VOIP_SETTINGS": settings})
    run_simple(
        settings.panel_host, settings.panel_port, app, threaded=True, use_reloader=False, use_debugger=False
    )


def _workers() -> int:
    raw = os.environ.get("VOIP_PANEL_WORKERS", "").strip()
    if not raw:
        return 0
    try:
        workers = int(raw)
    except ValueError:
        raise SystemExit(f"VOIP_PANEL_WORKERS must be a whole number, not {raw!r}") from None
    if not 0 <= workers <= 64:
        raise SystemExit(f"VOIP_PANEL_WORKERS must be between 0 and 64, not {workers}")
    return workers


def _serve_with_gunicorn(settings, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Panel(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.panel_host}:{settings.panel_port}")
            self.cfg.set("workers", workers)
            # threads, not sync workers: a long CSV export (admin Call Records) streams in its
            # own thread while the worker's heartbeat goes on; a sync worker is killed after
            # gunicorn's timeout (30 s), mid-download
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("loglevel", settings.log_level.lower())

        def load(self):  # in each worker, after the fork: its own engine and pool
            return create_app({"VOIP_SETTINGS": settings})

    Panel().run()


if __name__ == "__main__":
    main()
