"""The reports' rollup: what its trigger (migration 0023, cdr_charges_rollup) costs per rated CDR.

A scratch database (created, migrated to head, dropped at the end) with a rate deck, a carrier
with its buy deck and --accounts members with credit. Each round inserts --cdrs CDRs as
cdr_pgsql writes them (a mix of domestic, international, unanswered and carrier-carried calls
over the last 3 days) and rates them all with the real rater (controller.services.rater
.rate_pending, batches of 200), alternately with the rollup trigger enabled and disabled
(ALTER TABLE cdr_charges DISABLE TRIGGER cdr_charges_rollup), --rounds times each. Printed:

- the rater's time per rated CDR with and without the trigger (median of the rounds) and the
  difference: the trigger's cost as the rater sees it, noise included;
- the trigger function's own time per call, as PostgreSQL counts it (pg_stat_user_functions
  with track_functions = 'pl'): the same cost without the rater's noise.

    .venv/bin/python -m bench.rollup_cost [--cdrs 5000] [--rounds 3] [--accounts 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import random
import statistics
import time
from decimal import Decimal

from sqlalchemy import text

from controller.services.rater import rate_pending
from controller.settings import load
from db import accounts, migrate
from db.models import CreditLot
from db.rates import import_deck
from db.session import make_engine, session_factory, transaction

D = Decimal
DECK = [
    ("1", "United States / Canada", "US", D("0.0150"), D("0"), 6, 6),
    ("44", "United Kingdom", "GB", D("0.0300"), D("0"), 60, 60),
    ("52", "Mexico", "MX", D("0.0400"), D("0"), 60, 60),
    ("49", "Germany", "DE", D("0.0250"), D("0"), 1, 1),
]
DIALED = [("D", "13125550100"), ("D", "12125550100"), ("I", "442071234567"), ("I", "525512345678"),
          ("I", "4930123456")]  # fmt: skip


def seed(factory, n_accounts: int, realm: str) -> tuple[list[tuple[int, str]], str]:
    with transaction(factory) as s:
        import_deck(s, "bench", DECK)
        s.execute(
            text("INSERT INTO carriers (name, host, enabled) VALUES ('benchcarrier', '127.0.0.9', false)")
        )
        carrier_id = s.scalar(text("SELECT id FROM carriers WHERE name = 'benchcarrier'"))
        for prefix in ("1", "44", "52", "49"):
            s.execute(
                text(
                    "INSERT INTO carrier_rates (carrier_id, prefix, rate_per_minute, connect_fee, min_seconds,"
                    " increment_seconds) VALUES (:c, :p, 0.01, 0, 6, 6)"
                ),
                {"c": carrier_id, "p": prefix},
            )
        members = []
        for i in range(n_accounts):
            account, _user, vn = accounts.create_account(
                s, login_number=str(2125000000 + i), password="Bench-pass-2026", realm=realm
            )
            s.add(
                CreditLot(account_id=account.id, original=D("100000"), remaining=D("100000"), source="admin")
            )
            members.append((account.id, vn.number))
    return members, "benchcarrier"


def insert_cdrs(factory, members, carrier: str, n: int, rng: random.Random) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for k in range(n):
        account_id, number = rng.choice(members)
        call_class, dialed = rng.choice(DIALED)
        answered = rng.random() < 0.7
        billsec = rng.randint(1, 600) if answered else 0
        start = now - dt.timedelta(seconds=rng.randint(0, 3 * 86400))
        rows.append(
            {
                "acct": str(account_id),
                "src": number,
                "dst": dialed,
                "chan": f"PJSIP/{number}-{k:08x}",
                "start": start,
                "answer": start if answered else None,
                "end": start + dt.timedelta(seconds=billsec + 5),
                "dur": billsec + 5,
                "bill": billsec,
                "disp": "ANSWERED" if answered else rng.choice(["NO ANSWER", "BUSY", "FAILED"]),
                "uid": f"bench-{time.time_ns()}-{k}",
                "vnum": number,
                "cc": call_class,
                "dialed": dialed,
                "carrier": carrier if rng.random() < 0.6 else None,
            }
        )
    with transaction(factory) as s:
        s.execute(
            text(
                'INSERT INTO cdr (accountcode, src, dst, dcontext, channel, lastapp, start, answer, "end",'
                " duration, billsec, disposition, amaflags, uniqueid, linkedid, vnum, call_class, dialed,"
                " carrier) VALUES (:acct, :src, :dst, 'members', :chan, 'Dial', :start, :answer, :end, :dur,"
                " :bill, :disp, 'DOCUMENTATION', :uid, :uid, :vnum, :cc, :dialed, :carrier)"
            ),
            rows,
        )


def function_stats(factory) -> tuple[int, float]:
    with factory() as s:
        row = s.execute(
            text(
                "SELECT calls, self_time FROM pg_stat_user_functions WHERE funcname = 'voip_rollup_charge_insert'"
            )
        ).first()
    return (int(row.calls), float(row.self_time)) if row else (0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cdrs", type=int, default=5000, help="CDRs rated per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with and without the trigger, each")
    parser.add_argument("--accounts", type=int, default=200)
    args = parser.parse_args()

    base = load()
    settings = dataclasses.replace(base, db_name=f"voip_bench_rollup_{os.getpid()}")
    migrate.create_database(settings, drop_first=True)
    try:
        migrate.upgrade(settings)
        engine = make_engine(settings, pool_size=2, max_overflow=0)
        with engine.connect() as c:
            c.execute(text(f"ALTER DATABASE \"{settings.db_name}\" SET track_functions = 'pl'"))
            c.commit()
        engine.dispose()
        engine = make_engine(settings, pool_size=2, max_overflow=0)
        factory = session_factory(engine)
        rng = random.Random(2026)
        members, carrier = seed(factory, args.accounts, base.sip_realm)
        # a warm-up round: caches, the deck's pages, the accounts' rows
        insert_cdrs(factory, members, carrier, min(args.cdrs, 1000), rng)
        rate_pending(factory)

        per_cdr: dict[bool, list[float]] = {True: [], False: []}
        print(
            f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
            f"{args.cdrs} CDRs a round, {args.rounds} rounds each way",
            flush=True,
        )
        for r in range(args.rounds):
            for enabled in (True, False) if r % 2 == 0 else (False, True):
                with transaction(factory) as s:
                    s.execute(
                        text(
                            f"ALTER TABLE cdr_charges {'ENABLE' if enabled else 'DISABLE'} TRIGGER cdr_charges_rollup"
                        )
                    )
                insert_cdrs(factory, members, carrier, args.cdrs, rng)
                calls0, self0 = function_stats(factory)
                t0 = time.perf_counter()
                rated = rate_pending(factory)
                elapsed = time.perf_counter() - t0
                time.sleep(0.6)  # the statistics collector's flush
                calls1, self1 = function_stats(factory)
                us = elapsed * 1e6 / max(1, rated)
                per_cdr[enabled].append(us)
                extra = ""
                if enabled and calls1 > calls0:
                    extra = f"; trigger self time {(self1 - self0) * 1000 / (calls1 - calls0):.1f} µs a call"
                print(
                    f"  round {r + 1}, trigger {'on ' if enabled else 'off'}: {rated} CDRs rated in "
                    f"{elapsed:.2f} s = {us:.0f} µs per CDR{extra}; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        with_trigger, without = statistics.median(per_cdr[True]), statistics.median(per_cdr[False])
        calls, self_ms = function_stats(factory)
        with factory() as s:
            rows = s.scalar(text("SELECT count(*) FROM cdr_rollup_daily"))
        print(
            f"rater per rated CDR (median): with the rollup trigger {with_trigger:.0f} µs, without "
            f"{without:.0f} µs, difference {with_trigger - without:+.0f} µs "
            f"({(with_trigger - without) / without:+.1%})"
        )
        if calls:
            print(
                f"trigger function voip_rollup_charge_insert: {calls} calls, {self_ms * 1000 / calls:.1f} µs "
                f"each (PostgreSQL's own count); cdr_rollup_daily rows: {rows}"
            )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        engine.dispose()
    finally:
        migrate.drop_database(settings)


if __name__ == "__main__":
    main()
