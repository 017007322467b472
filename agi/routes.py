"""The explicit registry of FastAGI routes: one module per route, one `async def` each."""

from __future__ import annotations

from agi.callingcard import callingcard
from agi.fax import fax
from agi.inbound import inbound
from agi.outbound import outbound
from agi.ping import ping
from agi.release import release
from agi.server import Route
from controller.rules import channel_vars as cv

ROUTES: dict[str, Route] = {
    cv.ROUTE_PING: ping,
    cv.ROUTE_OUTBOUND: outbound,
    cv.ROUTE_INBOUND: inbound,
    cv.ROUTE_CALLINGCARD: callingcard,
    cv.ROUTE_RELEASE: release,
    cv.ROUTE_FAX: fax,
}
