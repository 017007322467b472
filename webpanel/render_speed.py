"""Rendering pages for less CPU, the same markup (issue 16: at most 4 ms a member page).

`wtforms.widgets.html_params` builds every attribute through `Markup('{k}="{v}"').format()`
(string.Formatter in Python, an escape per part): about a tenth of a form page's CPU. This
one gives the same string: the keys sorted, `class_`/`for_` stripped of their underscore,
`data_`/`aria_` keys with hyphens, True as a bare attribute, False left out, every key and
value escaped (markupsafe's C escape) and a double quote in a Markup value as `&quot;`.
`install()` puts it where WTForms looks it up (the module, and the widgets' class attribute).

Flask-WTF signs the session's CSRF token anew on every page (an HMAC and a serializer per
request); `generate_csrf` below reuses a signed token for the same session token while it is
younger than CSRF_REUSE_SECONDS (Flask-WTF reads it from g when there), so a form's token
stays valid for its time limit less at most that.

Jinja compares a page's globals with an imported template's (`{% from "_forms.html" import
field %}`) on each import, key by key through ChainMap.__contains__; `_Globals.keys()` gives
them as a set (the same keys) so that is one C set difference.
"""

from __future__ import annotations

import time
import types
from collections import ChainMap
from collections.abc import MutableMapping
from typing import Any

from flask import Flask, current_app, g, session
from flask_wtf import csrf as flask_wtf_csrf
from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets import core

CSRF_FIELD = "csrf_token"  # Flask-WTF's default WTF_CSRF_FIELD_NAME (the panel keeps it)
CSRF_REUSE_SECONDS = 60.0
CSRF_CACHE_MAX = 10_000


def html_params(**kwargs: Any) -> Markup:
    params = []
    for k, v in sorted(kwargs.items()):
        name = _names.get(k)
        if name is None:
            name = _names[k] = _name(k)
        if v is True:
            params.append(name[0])
        elif v is not False:
            if type(v) is str:  # markupsafe's escape, without a Markup object per value
                v = (
                    v.replace("&", "&amp;")
                    .replace(">", "&gt;")
                    .replace("<", "&lt;")
                    .replace("'", "&#39;")
                    .replace('"', "&#34;")
                )
            elif type(v) is not int:
                v = str(escape(v)).replace('"', "&quot;")
            params.append(f'{name[1]}="{v}"')
    return Markup(" ".join(params))


def _name(key: str) -> tuple[str, str]:
    """(the attribute's name as WTForms writes it bare, and escaped)."""
    key = key.rstrip("_")
    if key.startswith(("data_", "aria_")):
        key = key.replace("_", "-")
    return key, str(escape(key))


_names: dict[str, tuple[str, str]] = {}  # keyword -> _name(keyword); attribute names are few


def install() -> None:
    if core.html_params is html_params:
        return
    core.html_params = html_params
    widgets.html_params = html_params  # Label looks it up here
    # the widgets that keep it as a class attribute
    core.Input.html_params = staticmethod(html_params)
    core.Button.html_params = staticmethod(html_params)


def generate_csrf(secret_key: str | None = None, token_key: str | None = None) -> str:
    """Flask-WTF's generate_csrf, reusing the token it signed for this session token (and
    key) within CSRF_REUSE_SECONDS; looked up when a page asks, so a session cleared earlier
    in the request gets a new token as before."""
    secret = secret_key or current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    field = token_key or current_app.config.get("WTF_CSRF_FIELD_NAME", CSRF_FIELD)
    raw = session.get(field)
    if field not in g and isinstance(raw, str):
        hit = _csrf_cache.get((secret, field, raw))
        if hit is not None and time.monotonic() - hit[0] < CSRF_REUSE_SECONDS:
            setattr(g, field, hit[1])
            return hit[1]
    token: str = _flask_wtf_generate_csrf(secret_key, token_key)
    raw = session.get(field)
    if isinstance(raw, str) and _csrf_cache.get((secret, field, raw), (0.0, None))[1] != token:
        if len(_csrf_cache) >= CSRF_CACHE_MAX:
            _csrf_cache.clear()
        _csrf_cache[(secret, field, raw)] = (time.monotonic(), token)
    return token


_flask_wtf_generate_csrf = flask_wtf_csrf.generate_csrf
_csrf_cache: dict[tuple[Any, str, str], tuple[float, str]] = {}


def init_app(app: Flask) -> None:
    """After CSRFProtect's init_app: the fast html_params, pages' CSRF token from
    `generate_csrf` above (Flask-WTF's forms and the `csrf_token()` of templates look it up
    in flask_wtf.csrf), and `field_attrs` for _forms.html."""
    install()
    app.jinja_env.make_globals = types.MethodType(_make_globals, app.jinja_env)  # type: ignore[method-assign]
    flask_wtf_csrf.generate_csrf = generate_csrf
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.globals["field_attrs"] = field_attrs


def field_attrs(f: Any, help: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """_forms.html's attributes of an input: `extra`, aria-invalid="true" when the field has
    errors, aria-describedby naming its help (`<id>-help`) and each error (`<id>-error-<n>`)."""
    attrs = dict(extra)
    errors = f.errors
    ids = [f"{f.id}-help"] if help else []
    if errors:
        attrs["aria-invalid"] = "true"
        ids.extend(f"{f.id}-error-{n}" for n in range(1, len(errors) + 1))
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    return attrs


class _Globals(ChainMap[str, Any]):
    """A template's globals (Jinja's ChainMap of its own over the environment's), whose
    keys() is a set: Jinja's `ctx.globals_keys - template.globals.keys()` on every import."""

    def keys(self) -> set[str]:  # type: ignore[override]
        keys: set[str] = set()
        for m in self.maps:
            keys.update(m.keys())
        return keys


def _make_globals(env: Any, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
    return _Globals({} if d is None else d, env.globals)
