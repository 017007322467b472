"""Route `release`: the hangup handler of every billable decision (pushed before the decision
runs, see asterisk_conf/templates/extensions.conf.j2). It gives back the hold of a call that was
never answered, at once, so the next call (the next number of a sequential forwarding list, the
member calling again) can use the balance: the hold whose id the dialplan passes, or, when the
caller hung up while the decision was being made (no id reached the dialplan), the holds this
channel's own decision took. An answered call keeps its hold until the rater has charged its
CDR; the hold sweeper (controller/services/holds.py) frees what this misses.

It only ever acts on what the calling channel owns (issue 13, item 10): the hold must have been
taken by this channel (its uniqueid) or belong to its call's tree (its linkedid), so a FastAGI
request naming another call's hold id changes nothing."""

from __future__ import annotations

import logging

from agi.channel import Channel
from agi.errors import AGIError
from controller.services.deps import Deps
from db import billing

log = logging.getLogger("agi.release")


async def release(channel: Channel, deps: Deps) -> None:
    args = channel.args()
    uniqueid = channel.uniqueid
    if not uniqueid:
        return
    auth_id: int | None = None
    linkedid: str | None = None
    if args and args[0]:
        if not args[0].isdigit() or len(args[0]) > 18:
            return
        auth_id = int(args[0])
        try:
            linkedid = await channel.get_variable_after_hangup("CHANNEL(linkedid)")
        except AGIError:
            linkedid = None  # the uniqueid alone must then match
    async with deps.db() as session:
        released = await session.run_sync(billing.release_owned, uniqueid, linkedid, auth_id)
        await session.commit()
    if released:
        log.info("hold released", extra={"auth_ids": released, "uniqueid": uniqueid})
    elif auth_id is not None:
        log.info("release: no open hold of this channel", extra={"auth_id": auth_id, "uniqueid": uniqueid})
