"""URL converters. `<int:...>` is bounded to what an id column holds, so a URL naming an id no
row can have answers 404 before any query runs (issue 13 item 8).

PostgreSQL's `integer` (every id the panel's URLs name is a serial column) stops at 2**31 - 1;
a larger number reached the query as a bigint and the database refused it (`integer out of
range`): a 500. A route naming a `bigint` column writes `<int(max=...):name>`.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

INT4_MAX = 2**31 - 1


class IdConverter(IntegerConverter):
    """Werkzeug's `int`, but ASCII digits only (its `\\d` also matches full-width and other
    scripts' digits) and at most `max` (PostgreSQL's integer by default): anything else does
    not match the rule, so the URL answers 404."""

    regex = r"[0-9]+"

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = INT4_MAX,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app) -> None:
    """Before any blueprint is registered: a rule binds its converter when it is added."""
    app.url_map.converters["int"] = IdConverter
