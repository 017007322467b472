"""The tests' TcpProxy on an event loop of its own thread, for Asterisk's database connections.

Asterisk reaches PostgreSQL (realtime, CDR) through it for the whole run, so a test can make the
database unreachable for Asterisk and bring it back. It cannot live on the test's event loop like
the controller's `db_proxy`: tests block that loop in synchronous calls (a SIPp run, a sync
session) while Asterisk needs the database to answer the very REGISTER the test waits for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from tests.support.tcpproxy import TcpProxy


class ThreadedTcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self._proxy = TcpProxy(target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asterisk-db-proxy", daemon=True)

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def cut_off(self) -> bool:
        return self._proxy.cut_off

    def start(self) -> int:
        self._thread.start()
        return self._run(self._proxy.start())

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until `restore()`."""
        self._run(self._call(self._proxy.cut))

    def restore(self) -> None:
        self._run(self._call(self._proxy.restore))

    def stop(self) -> None:
        self._run(self._proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    @staticmethod
    async def _call(fn) -> None:  # on the proxy's own loop: its transports are not thread-safe
        fn()
