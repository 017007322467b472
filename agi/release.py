"""Route `release`: run as a hangup handler after a billable Dial that was not answered; it
settles the call's hold (call_authorizations) so the next call (the next number of a
sequential forwarding list, say) can use the balance at once."""

from __future__ import annotations

import logging

from agi.channel import Channel
from controller.services.deps import Deps
from db import billing

log = logging.getLogger("agi.release")


async def release(channel: Channel, deps: Deps) -> None:
    args = channel.args()
    if not args or not args[0].isdigit():
        return
    auth_id = int(args[0])
    async with deps.db() as session:
        await session.run_sync(billing.settle_authorization, auth_id)
        await session.commit()
    log.info("hold released", extra={"auth_id": args[0], "uniqueid": channel.uniqueid})
