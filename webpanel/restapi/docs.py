"""The API's interactive docs at /api/v1/docs: Swagger UI from this server (the PyPI package
swagger-ui-bundle's files, no CDN), reading /api/v1/openapi.json; and a JSON 404 for any other
URL under /api/v1 (405 when the URL exists with another method).

The page keeps the panel's Content-Security-Policy as it is (webpanel.security: scripts and
styles from this origin only): Swagger UI's start-up script is static/api-docs.js, not inline,
and Swagger UI 4 sets its styles through the DOM, which the policy allows
(tests/browser/test_api_tokens_browser.py renders it, authorizes and tries a call, and sees no
CSP violation).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request, send_from_directory
from werkzeug.exceptions import MethodNotAllowed, NotFound

from webpanel import access
from webpanel.restapi import auth

try:
    from swagger_ui_bundle import swagger_ui_path as SWAGGER_UI_DIR
except ImportError:  # pragma: no cover - a dependency in pyproject.toml
    SWAGGER_UI_DIR = ""

ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}
)

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1", template_folder="templates")
access.public(bp)  # the description says nothing secret; the API itself wants a token
auth.json_errors(bp)


@bp.get("/docs")
def docs():
    return render_template("restapi/docs.html")


@bp.get("/docs/assets/<name>")
def asset(name: str):
    if name not in ASSETS or not SWAGGER_UI_DIR:
        abort(404)
    response = send_from_directory(Path(SWAGGER_UI_DIR), name, max_age=86400)
    return response


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    """No such endpoint: JSON, like every API answer (405 when another method has it)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method == request.method:
            continue
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except (NotFound, MethodNotAllowed):
            continue
        if endpoint != "api_docs.unknown":
            allowed.append(method)
    if allowed:
        return auth.error_response(
            405,
            "method_not_allowed",
            "This URL does not take that method.",
            headers={"Allow": ", ".join(allowed)},
        )
    return auth.error_response(404, "not_found", "There is no such API endpoint.")
