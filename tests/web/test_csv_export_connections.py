"""A streamed CSV export gives its database connection back when the download ends.

The request's teardown closes the request's session before the stream runs; the rows' query
then opened a connection on that session again, and nothing closed it: it stayed checked out
until the garbage collector found it (and such late cleanups crashed a pytest run's exit)."""

from __future__ import annotations

import gc

import pytest

from .conftest import sign_in


@pytest.mark.parametrize(
    "url", ["/call-history/export.csv?start=2026-08-01&end=2026-08-01", "/missed-calls/export.csv"]
)
def test_an_export_leaves_no_connection_checked_out_when_its_download_ends(client, make_member, engine, url):
    sign_in(client, make_member())
    gc.collect()
    before = engine.pool.checkedout()
    response = client.get(url)
    assert response.status_code == 200 and response.data.startswith(b"Date (")
    response.close()
    assert engine.pool.checkedout() == before
