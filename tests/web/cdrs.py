"""CDRs and their charges, written as Asterisk's cdr_pgsql and the rater write them."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy import func, insert, update

from db.models import Cdr, CdrCharge, VirtualNumber
from db.session import transaction

UTC = dt.UTC
_ids = itertools.count(1)


def cdr_values(
    *,
    vnum: str | None,
    start: dt.datetime,
    src: str = "",
    dst: str = "",
    dialed: str | None = None,
    call_class: str | None = None,
    billsec: int = 0,
    disposition: str = "ANSWERED",
    clid: str = "",
    linkedid: str | None = None,
    dstchannel: str = "",
) -> dict:
    n = next(_ids)
    unique = f"web-{n}-{start.timestamp()}"
    return {
        "vnum": vnum,
        "start": start,
        "answer": start if disposition == "ANSWERED" else None,
        "end": start + dt.timedelta(seconds=billsec + 5),
        "src": src,
        "dst": dst,
        "dialed": dialed,
        "call_class": call_class,
        "billsec": billsec,
        "duration": billsec + 5,
        "disposition": disposition,
        "clid": clid,
        "uniqueid": unique,
        "linkedid": linkedid or unique,
        "dstchannel": dstchannel,
        "dcontext": "test",
    }


def add_cdrs(
    factory, rows: list[dict], charges: dict[int, dict] | None = None, *, numbers_existed: bool = True
) -> list[int]:
    """Insert `rows` (cdr_values dicts); `charges` maps a row's index to its cdr_charges values
    (call_type, country, cost, ...). Returns the CDR ids in the order of `rows`. The virtual
    numbers of the rows (the calling and, on-net, the called one) are dated back to their first
    call (they were the member's then) unless `numbers_existed` is False."""
    numbers = {r["vnum"] for r in rows if r["vnum"]}
    numbers |= {r["dialed"] for r in rows if r.get("call_class") == "N" and r.get("dialed")}
    with transaction(factory) as s:
        if numbers_existed and rows:
            s.execute(
                update(VirtualNumber)
                .where(VirtualNumber.number.in_(numbers))
                .values(created_at=func.least(VirtualNumber.created_at, min(r["start"] for r in rows)))
            )
        ids = list(s.scalars(insert(Cdr).returning(Cdr.id, sort_by_parameter_order=True), rows))
        for index, charge in (charges or {}).items():
            s.execute(
                insert(CdrCharge).values(
                    cdr_id=ids[index], **{"call_type": "R", "country": "US", "cost": Decimal("0"), **charge}
                )
            )
        # the rater would have dequeued them: no stray work for a rater in another test
        s.execute(
            Cdr.__table__.metadata.tables["cdr_rating_queue"]
            .delete()
            .where(Cdr.__table__.metadata.tables["cdr_rating_queue"].c.cdr_id.in_(ids))
        )
    return ids


def at(text: str) -> dt.datetime:
    """'2026-03-02 04:30:00' as UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
