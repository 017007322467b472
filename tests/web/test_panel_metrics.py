"""The panel's /metrics (issue 17 part 5): requests and latency per endpoint, for the operator's
token only; without it (or with the token unset) the panel answers its ordinary 404."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from webpanel import create_app

TOKEN = "operator-metrics-token"


@pytest.fixture()
def metered(database, engine):
    settings = dataclasses.replace(database, panel_metrics_token=TOKEN)
    return create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine}).test_client()


def scrape(client) -> dict:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.get_data(as_text=True))
        for s in family.samples
    }


def test_requests_are_counted_and_timed_per_endpoint(metered):
    login = ("voip_panel_requests_total", (("endpoint", "auth.login"), ("method", "GET"), ("status", "200")))
    timed = ("voip_panel_request_seconds_count", (("endpoint", "auth.login"),))
    missing = ("voip_panel_requests_total", (("endpoint", "none"), ("method", "GET"), ("status", "404")))
    before = scrape(metered)
    assert metered.get("/login").status_code == 200
    assert metered.get("/login").status_code == 200
    assert metered.get("/no-such-page").status_code == 404
    after = scrape(metered)
    assert after[login] == before.get(login, 0) + 2
    assert after[timed] == before.get(timed, 0) + 2
    assert after[missing] == before.get(missing, 0) + 1


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Bearer {TOKEN}x", TOKEN])
def test_metrics_without_the_operator_token_is_the_panels_404(metered, header):
    headers = {"Authorization": header} if header else {}
    r = metered.get("/metrics", headers=headers)
    assert r.status_code == 404
    assert b"voip_panel_requests" not in r.get_data()


def test_metrics_is_not_served_when_no_token_is_set(client):
    r = client.get("/metrics", headers={"Authorization": "Bearer "})
    assert r.status_code == 404
    assert b"voip_panel_requests" not in r.get_data()


def test_several_panel_processes_add_up_in_one_scrape(tmp_path):
    """VOIP_PANEL_WORKERS > 1 with PROMETHEUS_MULTIPROC_DIR: whichever worker answers the
    scrape shows every worker's requests (prometheus_client's multiprocess mode)."""
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    count = "from webpanel import metrics; metrics.REQUESTS.labels('auth.login', 'GET', '200').inc({n})"
    for n in (2, 3):  # two worker processes, one after the other
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True, cwd=ROOT)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from webpanel import metrics; sys.stdout.buffer.write(metrics.exposition())",
        ],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    assert (
        samples[
            ("voip_panel_requests_total", (("endpoint", "auth.login"), ("method", "GET"), ("status", "200")))
        ]
        == 5
    )
