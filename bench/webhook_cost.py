"""Webhook outbox cost on the rater (issue 15): the rater's time per rated CDR with the webhook
triggers (migration 0026) disabled, enabled with no webhook anywhere, enabled with webhooks of
other accounts only (the EXISTS finds none for this account), and with an operator webhook on
call.ended and balance.low (every CDR queues a delivery; some accounts cross their threshold).

Runs in a scratch database (created, migrated, dropped at the end):

    .venv/bin/python -m bench.webhook_cost [--cdrs 4000] [--accounts 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from decimal import Decimal

from sqlalchemy import text

from controller.services.rater import rate_pending
from controller.settings import load
from db import migrate
from db.rates import import_deck
from db.session import make_engine, session_factory, transaction

DECK = [("1", "US/Canada", "US", Decimal("0.6000"), Decimal("0"), 1, 1)]
TRIGGERS = (("cdr_charges", "webhook_call_ended"), ("credit_lots", "webhook_balance_low"))


def setup(factory, accounts: int) -> list[int]:
    with transaction(factory) as s:
        import_deck(s, "bench", DECK)
        ids = list(
            s.scalars(
                text(
                    "INSERT INTO accounts (first_name, low_balance_threshold)"
                    " SELECT 'bench ' || g, 5 FROM generate_series(1, :n) g RETURNING id"
                ),
                {"n": accounts},
            )
        )
    return ids


def refill(factory, ids: list[int]) -> None:
    with transaction(factory) as s:
        s.execute(text("DELETE FROM credit_lots WHERE account_id = ANY(:ids)"), {"ids": ids})
        s.execute(
            text(
                "INSERT INTO credit_lots (account_id, original, remaining, source)"
                " SELECT a, 10, 10, 'admin' FROM unnest(CAST(:ids AS int[])) a"
            ),
            {"ids": ids},
        )


def insert_cdrs(factory, ids: list[int], n: int, tag: str) -> None:
    with transaction(factory) as s:
        s.execute(
            text(
                'INSERT INTO cdr (accountcode, src, dst, start, answer, "end", duration, billsec,'
                " disposition, uniqueid, linkedid, call_class, dialed)"
                " SELECT (CAST(:ids AS int[]))[1 + g % cardinality(CAST(:ids AS int[]))]::text, '17005550100',"
                " '12125550100', now() - interval '1 minute', now() - interval '1 minute', now(), 30, 30,"
                " 'ANSWERED', :tag || g, :tag || g, 'D', '12125550100' FROM generate_series(1, :n) g"
            ),
            {"ids": ids, "n": n, "tag": tag},
        )


def measure(factory, ids: list[int], n: int, tag: str) -> float:
    """Microseconds of rating per CDR (the rater's own batches of 200, one transaction each)."""
    refill(factory, ids)
    insert_cdrs(factory, ids, n, tag)
    started = time.perf_counter()
    rated = rate_pending(factory, batch=200)
    elapsed = time.perf_counter() - started
    assert rated == n, (rated, n)
    return elapsed / n * 1e6


def trigger_only(factory, ids: list[int], n: int, tag: str) -> tuple[float, float]:
    """One INSERT of n cdr_charges rows under EXPLAIN ANALYZE, rolled back: microseconds per row
    of the whole statement (every trigger on the table fires per row), and of the webhook
    trigger alone (PostgreSQL's own per-trigger timing: far less noisy on a loaded machine)."""
    with transaction(factory) as s:
        s.execute(
            text(
                "INSERT INTO cdr (accountcode, dst, start, billsec, disposition, uniqueid, dialed)"
                " SELECT (CAST(:ids AS int[]))[1 + g % cardinality(CAST(:ids AS int[]))]::text, '12125550100',"
                " now(), 30, 'ANSWERED', :tag || g, '12125550100' FROM generate_series(1, :n) g"
            ),
            {"ids": ids, "n": n, "tag": tag},
        )
    with factory() as s:
        plan = s.scalar(
            text(
                "EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO cdr_charges (cdr_id, account_id, call_type,"
                " billable_seconds, cost) SELECT id, accountcode::int, 'D', 30, 0.3 FROM cdr"
                " WHERE uniqueid LIKE :tag || '%'"
            ),
            {"tag": tag},
        )
        s.rollback()
    top = plan[0]
    mine = sum(t["Time"] for t in top.get("Triggers", []) if t["Trigger Name"] == "webhook_call_ended")
    return top["Execution Time"] * 1000 / n, mine * 1000 / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cdrs", type=int, default=4000)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    settings = dataclasses.replace(load(), db_name=f"voip_bench_webhooks_{os.getpid()}")
    migrate.create_database(settings, drop_first=True)
    migrate.upgrade(settings)
    engine = make_engine(settings)
    factory = session_factory(engine)
    try:
        ids = setup(factory, args.accounts)
        others = setup(factory, 20)

        def toggle(on: bool) -> None:
            with transaction(factory) as s:
                for table, trigger in TRIGGERS:
                    s.execute(text(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER {trigger}"))

        def hooks(kind: str) -> None:
            with transaction(factory) as s:
                s.execute(text("DELETE FROM webhooks"))
                if kind == "others":
                    s.execute(
                        text(
                            "INSERT INTO webhooks (account_id, url, secret, events) SELECT a,"
                            " 'https://hooks.example.com/' || a, 's', ARRAY['call.ended', 'fax.new']"
                            " FROM unnest(CAST(:ids AS int[])) a"
                        ),
                        {"ids": others},
                    )
                elif kind == "operator":
                    s.execute(
                        text(
                            "INSERT INTO webhooks (account_id, url, secret, events) VALUES"
                            " (NULL, 'https://ops.example.com/', 's', ARRAY['call.ended', 'balance.low'])"
                        )
                    )

        scenarios = [
            ("triggers disabled (baseline)", False, "none"),
            ("triggers on, no webhook", True, "none"),
            ("triggers on, 20 webhooks of other accounts", True, "others"),
            ("triggers on, operator webhook: a delivery per CDR", True, "operator"),
        ]
        measure(factory, ids, 400, "warm")  # warm the caches and the plans
        results: dict[str, list[float]] = {name: [] for name, _, _ in scenarios}
        inserts: dict[str, list[float]] = {name: [] for name, _, _ in scenarios}
        own: dict[str, list[float]] = {name: [] for name, _, _ in scenarios}
        for r in range(args.rounds):
            for name, on, kind in scenarios:
                toggle(on)
                hooks(kind)
                results[name].append(measure(factory, ids, args.cdrs, f"{r}{kind}{on}-"))
                whole, trigger = trigger_only(factory, ids, args.cdrs, f"t{r}{kind}{on}-")
                inserts[name].append(whole)
                own[name].append(trigger)
        with factory() as s:
            queued = s.scalar(text("SELECT count(*) FROM webhook_deliveries"))
            low = s.scalar(text("SELECT count(*) FROM webhook_deliveries WHERE event = 'balance.low'"))
        print(
            f"webhook outbox cost on the rater: {args.cdrs} CDRs x {args.rounds} rounds,"
            f" {args.accounts} accounts; {platform.node()}, load {os.getloadavg()[0]:.2f}"
        )
        base = statistics.median(results[scenarios[0][0]])
        for name, _, _ in scenarios:
            med = statistics.median(results[name])
            print(f"  {name:52s} {med:8.1f} us/CDR  ({med - base:+7.1f} us vs baseline)")
        print("the charge INSERT alone (EXPLAIN ANALYZE of one statement of that many rows, rolled back):")
        ibase = statistics.median(inserts[scenarios[0][0]])
        for name, _, _ in scenarios:
            med = statistics.median(inserts[name])
            print(
                f"  {name:52s} {med:8.1f} us/row  ({med - ibase:+7.1f} us vs baseline);"
                f" the call.ended trigger itself {statistics.median(own[name]):6.1f} us/row"
            )
        print(f"  deliveries queued by the last scenario's rounds: {queued} ({low} balance.low)")
    finally:
        engine.dispose()
        migrate.drop_database(settings)


if __name__ == "__main__":
    main()
