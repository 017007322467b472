"""python -m controller: run the call-control brain until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from controller import logs
from controller.app import Controller
from controller.settings import load


async def run() -> None:
    settings = load()
    logs.setup(settings.log_level)
    controller = Controller(settings)
    await controller.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await controller.stop()


def main() -> None:
    # uvloop: the FastAGI hot path spends a third of its CPU in the event loop; uvloop's is
    # several times cheaper (bench/agi_decisions.py). The stock loop when it is not installed.
    try:
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    main()
