"""Least-cost routing benchmark (issue 14): 20 carriers x 200,000 buy-deck prefixes each.

    .venv/bin/python bench/routing.py [--carriers 20] [--prefixes 200000] [--lookups 100000]
        [--decisions 4000] [--rate 800] [--distinct-prices]

In a scratch database (created, migrated, dropped at the end) it writes the decks with COPY
(prefixes shaped like real A-Z decks: North American NPA-NXX ranges and international
country/mobile ranges, every carrier a different 200,000 of a common universe, each priced per
destination), then prints:
- the routing table's load as the controller does it (agi/routing_table.py: db.routing.read_table
  in one REPEATABLE READ transaction), its time and the process's RSS before and after;
- candidate lists per second in process (controller.rules.routing.route, loss check included)
  and one decision's p50/p99 in microseconds; the admin's SQL route_number per number;
- with --decisions N (0 skips it): bench/agi_decisions.py's FastAGI outbound decision at
  --rate decisions/s, run twice: with no carrier (the call path's routing answers None at once
  and the call takes the default trunk, as before carriers) and with the carriers' decks (the
  call path routes every call through the in-memory table, agi/outbound.py as wired). Target:
  the p99 grows by at most 1 ms at 800 decisions/s.
--distinct-prices gives every row its own price (the worst case for the grouped load).
Run it by hand; it is not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from controller.rules.rating import Rate  # noqa: E402
from controller.rules.routing import route  # noqa: E402
from controller.settings import load  # noqa: E402
from db import migrate, routing  # noqa: E402
from db.hotpath import HotDB  # noqa: E402
from db.session import make_engine, session_factory  # noqa: E402

# country codes of real A-Z decks (a sample; the rest of the universe is NANP)
COUNTRY_CODES = (
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63"
    " 64 65 66 81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 220 221 223 224 225 226 227"
    " 228 229 230 231 232 233 234 235 236 237 238 239 240 241 242 243 244 245 248 249 250 251"
    " 252 253 254 255 256 257 258 260 261 262 263 264 265 266 267 268 269 290 291 297 298 299"
    " 350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375 376 377 378 380 381 382"
    " 385 386 387 389 420 421 423 500 501 502 503 504 505 506 507 508 509 590 591 592 593 594"
    " 595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 681 682 683 685 686 687 688"
    " 689 690 691 692 850 852 853 855 856 880 886 960 961 962 963 964 965 966 967 968 970 971"
    " 972 973 974 975 976 977 992 993 994 995 996 998"
).split()


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def universe(rng: random.Random, size: int) -> tuple[list[str], list[str]]:
    """(the prefixes every carrier has: "1", the NPAs and country codes; the longer ranges
    carriers pick from). NANP NPA-NXX (7 digits) and international ranges of 3-8 digits."""
    npas = [str(n) for n in range(201, 990) if n % 100 != 11]
    common = ["1"] + ["1" + n for n in npas] + COUNTRY_CODES
    ranges: set[str] = set()
    nanp_share = int(size * 0.8)
    while len(ranges) < nanp_share:
        ranges.add(f"1{rng.choice(npas)}{rng.randint(200, 999)}")
    while len(ranges) < size:
        cc = rng.choice(COUNTRY_CODES)
        ranges.add(cc + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6))))
    return common, sorted(ranges)


def destination(prefix: str) -> tuple[str, str]:
    """(destination, group key): NANP priced per NPA, the rest per country and fixed/mobile."""
    if prefix.startswith("1"):
        return (f"US/Canada NPA {prefix[1:4]}" if len(prefix) >= 4 else "US/Canada"), prefix[:4]
    cc = next(c for c in (prefix[:3], prefix[:2]) if c in COUNTRY_CODE_SET)
    kind = "mobile" if len(prefix) > len(cc) and prefix[len(cc)] in "6789" else "fixed"
    return f"Country {cc} {kind}", cc + kind


COUNTRY_CODE_SET = frozenset(COUNTRY_CODES)


def seed_carriers(conninfo: str, carriers: int, per_carrier: int, distinct: bool, seed: int = 14) -> float:
    """carriers x per_carrier buy-deck rows by COPY; returns the seconds it took."""
    rng = random.Random(seed)
    common, ranges = universe(rng, int(per_carrier * 1.8))
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=False) as conn:
        with conn.cursor() as cur:
            for i in range(carriers):
                cur.execute(
                    "INSERT INTO carriers (name, host, priority, weight) VALUES (%s, %s, %s, %s)",
                    (f"bench{i:02d}", f"10.0.{i}.1", rng.randint(0, 3), rng.randint(1, 5)),
                )
            cur.execute("SELECT id FROM carriers ORDER BY id")
            ids = [r[0] for r in cur.fetchall()]
            for carrier_id in ids:
                prices: dict[str, str] = {}
                picked = common + rng.sample(ranges, per_carrier - len(common))
                lines = []
                for prefix in picked:
                    dest, group = destination(prefix)
                    if distinct:
                        rate = f"0.{rng.randint(100, 99999):05d}"
                    else:
                        # North America below the bench decks' sell price (0.01 a minute in
                        # bench/agi_decisions.py, 0.02 here), so its calls are routed, not refused
                        rate = prices.get(group) or prices.setdefault(
                            group,
                            f"0.{rng.randint(100, 950) if prefix.startswith('1') else rng.randint(500, 60000):05d}",
                        )
                    lines.append(f"{carrier_id}\t{prefix}\t{dest}\t\t{rate}\t0\t6\t6\n")
                with cur.copy(
                    "COPY carrier_rates (carrier_id, prefix, destination, country, rate_per_minute,"
                    " connect_fee, min_seconds, increment_seconds) FROM STDIN"
                ) as copy:
                    for k in range(0, len(lines), 20000):
                        copy.write("".join(lines[k : k + 20000]))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE carrier_rates")
        try:  # the decks' dirty pages written now, not by a checkpoint during a measured run
            conn.execute("CHECKPOINT")
        except psycopg.Error:
            pass
    return time.perf_counter() - started


def numbers_to_route(rng: random.Random, count: int) -> list[str]:
    """80% North American numbers (any NPA-NXX), 20% international of 12 digits."""
    out = []
    for _ in range(count):
        if rng.random() < 0.8:
            out.append(f"1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}")
        else:
            cc = rng.choice(COUNTRY_CODES)
            out.append(cc + "".join(rng.choice("0123456789") for _ in range(12 - len(cc))))
    return out


def in_process(settings, args) -> None:
    conninfo = HotDB(settings).conninfo
    took = seed_carriers(conninfo, args.carriers, args.prefixes, args.distinct_prices)
    rows = args.carriers * args.prefixes
    print(f"  decks written by COPY: {rows:,} rows in {took:.1f} s")

    gc.collect()
    rss0, _ = rss_mb()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cur:
            _, table = routing.read_table(cur)
    loaded = time.perf_counter() - t0
    loaded_cpu = time.process_time() - cpu0
    t1 = time.perf_counter()
    gc.collect()
    gc.freeze()  # what controller.services.heap.settle() does after a load
    settled = time.perf_counter() - t1
    rss1, hwm = rss_mb()
    print(
        f"  table load (controller's path): {loaded:.2f} s ({loaded_cpu:.2f} s of it Python CPU, "
        f"holding the GIL) for {len(table):,} rows, "
        f"{table.prefixes():,} distinct prefixes, {len(table._prices):,} distinct prices; "
        f"then gc.collect+freeze {settled * 1000:.0f} ms"
    )
    print(
        f"  RSS {rss0:.0f} MB before, {rss1:.0f} MB after (+{rss1 - rss0:.0f} MB, "
        f"{(rss1 - rss0) * 1024 * 1024 / len(table):.0f} bytes per row); peak {hwm:.0f} MB"
    )

    rng = random.Random(7)
    numbers = numbers_to_route(rng, args.lookups)
    sell = Rate("1", Decimal("0.0200"), Decimal("0"), 6, 6)
    for digits in numbers[:2000]:  # warm
        route(table, digits, sell)
    timings = []
    cpu_timings = []  # the thread's CPU time: what the decision costs, whatever else runs
    candidates = refused = no_route = 0
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    started = time.perf_counter()
    for digits in numbers:
        c = cpu_clock()
        t = clock()
        decision = route(table, digits, sell)
        timings.append(clock() - t)
        cpu_timings.append(cpu_clock() - c)
        candidates += len(decision.candidates)
        refused += decision.refused_reason == "loss"
        no_route += decision.refused_reason == "no_route"
    elapsed = time.perf_counter() - started
    timings.sort()
    cpu_timings.sort()
    q = lambda p: timings[min(len(timings) - 1, int(p * len(timings)))] / 1000  # noqa: E731
    print(
        f"  route() in process: {len(numbers) / elapsed:,.0f} candidate lists/s; per decision "
        f"p50 {q(0.5):.1f} us, p99 {q(0.99):.1f} us, max {timings[-1] / 1000:.0f} us; "
        f"{candidates / len(numbers):.2f} candidates each (of at most 3), "
        f"{refused} refused for loss, {no_route} no route"
    )
    print(
        f"  route() CPU time per decision: p50 {cpu_timings[len(cpu_timings) // 2] / 1000:.1f} us, "
        f"p99 {cpu_timings[int(len(cpu_timings) * 0.99)] / 1000:.1f} us"
    )
    lookups = []
    for digits in numbers[:20000]:
        t = clock()
        table.lookup(digits)
        lookups.append(clock() - t)
    lookups.sort()
    found = sum(len(table.lookup(d)) for d in numbers[:2000]) / 2000
    print(
        f"  lookup() alone (every carrier's longest prefix, {found:.1f} carriers found on average): "
        f"p50 {lookups[len(lookups) // 2] / 1000:.1f} us, p99 {lookups[int(len(lookups) * 0.99)] / 1000:.1f} us"
    )

    engine = make_engine(settings)
    sql_times = []
    same = 0
    with session_factory(engine)() as s:
        for digits in numbers[:300]:
            t = clock()
            _, by_sql = routing.route_number(s, digits)
            sql_times.append(clock() - t)
            same += by_sql == route(table, digits, None)
    engine.dispose()
    sql_times.sort()
    print(
        f"  admin route_number (SQL for one number, sell lookup included): "
        f"p50 {sql_times[150] / 1e6:.2f} ms, p99 {sql_times[296] / 1e6:.2f} ms; "
        f"{same}/300 decisions equal to the in-memory table's"
    )


# --- the FastAGI decision, without and with the routing lookup -------------------------------


def serve_with_routing(args) -> None:
    """The child of bench/agi_decisions.py's run when the database has carriers: the outbound
    route as it is (agi/outbound.py routes through agi/routing_table.py), except that the first
    calls wait for the table's first load instead of failing closed after the call path's
    database timeout (a controller would preload it at start), so the run measures decisions
    on a loaded table."""
    import bench.agi_decisions as ad
    from agi import outbound as ob
    from agi.routes import ROUTES
    from controller.rules import channel_vars as cv

    original = ROUTES[cv.ROUTE_OUTBOUND]
    loaded: list[bool] = []

    async def outbound_after_load(channel, deps) -> None:
        if not loaded:
            await ob.routing_cache(deps).table()
            loaded.append(True)
        await original(channel, deps)

    ROUTES[cv.ROUTE_OUTBOUND] = outbound_after_load
    import uvloop

    if os.environ.get("BENCH_PROFILE"):  # cProfile of the server, written to that path
        import cProfile

        cProfile.runctx(
            "uvloop.run(ad.serve(args))",
            globals(),
            {"uvloop": uvloop, "ad": ad, "args": args},
            os.environ["BENCH_PROFILE"],
        )
        return
    uvloop.run(ad.serve(args))


def decisions(args) -> None:
    import bench.agi_decisions as ad

    base_args = argparse.Namespace(
        sessions=200,
        calls=args.decisions,
        members=200,
        pool=20,
        rate=args.rate,
        call_seconds=2.0,
        charges=0,
        stock_loop=False,
    )
    original_seed = ad.seed
    me = str(Path(__file__).resolve())
    cores = os.sched_getaffinity(0)
    for label, routed in (("no carrier", False), ("20 carriers routing", True)) * args.rounds:
        print(f"  -- {label}:")
        os.sched_setaffinity(0, cores)  # the run pins this process to the generator's cores
        if routed:

            def seed(settings, members):  # the members, then the 20 carriers' decks
                numbers = original_seed(settings, members)
                took = seed_carriers(
                    HotDB(settings).conninfo, args.carriers, args.prefixes, args.distinct_prices
                )
                print(f"     (decks written in {took:.0f} s)")
                return numbers

            ad.seed = seed
            ad.__file__ = me  # the child is this script's --serve, which wraps the route
        else:
            ad.seed = original_seed
            ad.__file__ = str(Path(ad.__file__).resolve().parent / "agi_decisions.py")
        import uvloop

        uvloop.run(ad.run(base_args))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--carriers", type=int, default=20)
    p.add_argument("--prefixes", type=int, default=200_000)
    p.add_argument("--lookups", type=int, default=100_000)
    p.add_argument("--decisions", type=int, default=4000, help="FastAGI decisions per run; 0: skip")
    p.add_argument("--rate", type=float, default=800.0)
    p.add_argument("--rounds", type=int, default=1, help="without/with pairs of decision runs")
    p.add_argument("--distinct-prices", action="store_true")
    p.add_argument("--skip-in-process", action="store_true")
    # the child server's arguments (bench/agi_decisions.py passes them)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--core", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--pool", type=int, default=20, help=argparse.SUPPRESS)
    p.add_argument("--stock-loop", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve_with_routing(args)
        return

    print(
        f"Least-cost routing: {args.carriers} carriers x {args.prefixes:,} prefixes; "
        f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if not args.skip_in_process:
        settings = dataclasses.replace(load(), db_name=f"voip_bench_routing_{os.getpid()}")
        migrate.create_database(settings, drop_first=True)
        try:
            migrate.upgrade(settings)
            in_process(settings, args)
        finally:
            migrate.drop_database(settings)
    if args.decisions:
        decisions(args)
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
