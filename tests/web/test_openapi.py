"""The REST API's OpenAPI description (issue 15): generated from the code, valid OpenAPI 3
(openapi-spec-validator), listing every route and method of /api/v1 with its errors and the
bearer security scheme; the interactive docs are served from this server under the panel's CSP."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from webpanel.security import CONTENT_SECURITY_POLICY

NOT_ENDPOINTS = {"api-docs.openapi_json", "api_docs.docs", "api_docs.asset", "api_docs.unknown"}


def _spec(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    return r.get_json()


def test_the_description_validates_as_openapi_3(client):
    spec = _spec(client)
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_the_description_lists_every_api_route_and_method(app, client):
    spec = _spec(client)
    documented = {
        (path, method.upper())
        for path, ops in spec["paths"].items()
        for method in ops
        if method != "parameters"
    }
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint in NOT_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method))
    assert len(routes) >= 20
    assert routes == documented, routes ^ documented
    for path, method in routes:
        op = spec["paths"][path][method.lower()]
        assert op.get("summary") or op.get("description"), (path, method)
        assert {"401", "403"} <= set(op["responses"]), (path, method)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]
    assert "429" in spec["info"]["description"] and "processes" in spec["info"]["description"]


def test_the_interactive_docs_are_served_locally_under_the_csp(client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "https://" not in html and "/api/v1/openapi.json" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and not re.search(r"\son[a-z]+=", html)
    assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # the panel's, unchanged
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert client.get(src).status_code == 200, src
