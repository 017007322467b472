"""The explicit registry of FastAGI routes: one module per route, one `async def` each."""
from __future__ import annotations

from agi.ping import ping
from controller import channel_vars as cv

ROUTES = {
    cv.ROUTE_PING: ping,
}
