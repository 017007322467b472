"""The panel's own pool (webpanel/database.py): no pre-ping round trip per page, but a pooled
connection the server ended is replaced before a request uses it (issue 16, speed)."""

from __future__ import annotations

import time

import psycopg

from webpanel import create_app


def _backend_pid(client, app) -> int:
    """The backend of the one connection the app's pool holds after a request."""
    assert client.get("/healthz").status_code == 200
    engine = app.extensions["voip_db"].engine
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_connection_the_server_ended_is_replaced_not_answered_with_an_error(database):
    app = create_app({"TESTING": True, "VOIP_SETTINGS": database})  # its own engine, as in production
    client = app.test_client()
    engine = app.extensions["voip_db"].engine
    assert engine.pool._pre_ping is False  # the round trip this replaces
    try:
        before = _backend_pid(client, app)
        # autocommit: pg_stat_activity is read once per transaction (stats_fetch_consistency)
        url = database.database_url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (before,)).fetchone() == (True,)
            deadline = time.monotonic() + 30
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (before,)).fetchone():
                assert time.monotonic() < deadline, "the backend did not end"
                time.sleep(0.05)
        # the pooled connection's server is gone: the next pages are served all the same
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        assert _backend_pid(client, app) != before
    finally:
        engine.dispose()


def test_an_idle_pooled_connection_is_kept(database):
    app = create_app({"TESTING": True, "VOIP_SETTINGS": database})
    client = app.test_client()
    try:
        first = _backend_pid(client, app)
        assert _backend_pid(client, app) == first  # reused: the check does not refuse a live one
    finally:
        app.extensions["voip_db"].engine.dispose()
