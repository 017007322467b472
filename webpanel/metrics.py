"""The panel's Prometheus metrics (issue 17 part 5): requests per endpoint, method and status,
and a latency histogram per endpoint, with prometheus_client.

`/metrics` is not public: it answers only when VOIP_PANEL_METRICS_TOKEN is set and the request
carries it (`Authorization: Bearer <token>`); otherwise it is the panel's ordinary 404. It is
served by a WSGI layer in front of the app, not a panel route, so it passes no session,
login or CSRF machinery and is counted as nothing.

With several panel processes (VOIP_PANEL_WORKERS), set PROMETHEUS_MULTIPROC_DIR to an empty
directory the workers share: prometheus_client then keeps each process's values in a file there
and a scrape, whichever worker answers it, adds them all up (prometheus_client's multiprocess
mode). Without it a scrape shows the worker that answered.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g, request
from flask.wrappers import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no *_created series

REQUESTS = Counter(
    "voip_panel_requests",
    "Panel requests answered, by endpoint (the Flask view; none: no route), method and status",
    ["endpoint", "method", "status"],
)
SECONDS = Histogram(
    "voip_panel_request_seconds",
    "Time from the panel's first request hook to its response, by endpoint",
    ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# issue 17 part 2 (webpanel/reports_db.py): set by each health check of the reports' replica
REPORTS_REPLICA_UP = Gauge(
    "voip_panel_reports_replica_up",
    "1 when the reports' PostgreSQL replica (VOIP_DB_REPORTS_HOST) answers as a standby, else 0",
    multiprocess_mode="livemostrecent",
)
REPORTS_REPLICA_LAG = Gauge(
    "voip_panel_reports_replica_lag_seconds",
    "How far the reports' replica is behind the primary (NaN: unknown, unreachable)",
    multiprocess_mode="livemostrecent",
)
PATH = "/metrics"
BEFORE_SCRAPE = "voip_metrics_before_scrape"  # app.extensions: callables run before a scrape


def init_app(app: Flask) -> None:
    """Call before the other request hooks are installed, so the clock starts first."""
    app.before_request(_start)
    app.after_request(_count)
    token = getattr(app.extensions.get("voip_settings"), "panel_metrics_token", "")
    hooks: list[Callable[[], object]] = []
    app.extensions[BEFORE_SCRAPE] = hooks  # e.g. the replica's health, checked again if due
    if token:
        app.wsgi_app = MetricsApp(app.wsgi_app, token, hooks)  # type: ignore[method-assign]


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    endpoint = request.endpoint or "none"
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        SECONDS.labels(endpoint).observe(time.perf_counter() - started)
    return response


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


class MetricsApp:
    """GET /metrics with the operator's bearer token: the exposition; anything else: the app."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        token: str,
        before: list[Callable[[], object]] | None = None,
    ):
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.before = [] if before is None else before

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, self.expected):
            return self.app(environ, start_response)  # the panel's own 404: nothing to see
        for hook in self.before:
            hook()
        body = exposition()
        start_response(
            "200 OK",
            [
                ("Content-Type", CONTENT_TYPE_LATEST),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]
