"""What routes need besides the channel, built once by the controller and handed to every
route call by the FastAGI server: `async def route(channel: Channel, deps: Deps) -> None`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.settings import Settings


@dataclass
class Deps:
    settings: Settings
    db: Any = None  # sqlalchemy async_sessionmaker
    pg: Any = None  # db.hotpath.HotDB: the outbound decision's pooled connections
    ami: Any = None  # controller.services.ami.AMILink
    ari: Any = None  # controller.services.ari.ARIClient
    extra: dict[str, Any] = field(default_factory=dict)  # caches (rate deck), services
