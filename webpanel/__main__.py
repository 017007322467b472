"""`python -m webpanel` (or `voip-panel`): serve the panel on VOIP_PANEL_HOST:VOIP_PANEL_PORT.

This runs Werkzeug's threaded server (`run_simple(threaded=True)`, no reloader, no
debugger): enough for the sandbox and development. Production runs the same factory under
gunicorn (DESIGN.md): `gunicorn 'webpanel:create_app()'`.
"""
from __future__ import annotations

import logging

from werkzeug.serving import run_simple

from controller.settings import load
from webpanel import create_app


def main() -> None:
    settings = load()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Werkzeug logs every request at INFO unless its logger has a level of its own
    logging.getLogger("werkzeug").setLevel(settings.log_level)
    app = create_app({"VOIP_SETTINGS": settings})
    run_simple(settings.panel_host, settings.panel_port, app, threaded=True,
               use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
