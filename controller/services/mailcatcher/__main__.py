"""python -m controller.services.mailcatcher: catch the demo's mail until SIGTERM/SIGINT.

Settings as everywhere (controller/settings.py): it listens on VOIP_SMTP_HOST:VOIP_SMTP_PORT
and writes into VOIP_DEMO_MAILBOX. `scripts/mailcatcher start|stop` runs it in the background
for `make up` / `make down`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from controller import logs
from controller.services.mailcatcher.mailbox import Mailbox
from controller.services.mailcatcher.server import serve
from controller.settings import Settings, load


async def run(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, Mailbox(settings.demo_mailbox), stop)


def main() -> None:
    settings = load()
    logs.setup(settings.log_level)
    # aiosmtpd logs every SMTP command at INFO; the catcher logs each message it keeps
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    if not settings.demo_mailbox:
        print("VOIP_DEMO_MAILBOX is not set: no mailbox to write into", file=sys.stderr)
        sys.exit(2)
    try:
        # finishing with asyncio.run waits for a delivery still writing in its thread
        asyncio.run(run(settings))
    except OSError as exc:  # the port is taken, or the host is not this machine's
        print(f"cannot listen on {settings.smtp_host}:{settings.smtp_port}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
