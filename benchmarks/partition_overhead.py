"""Cost of the monthly partitions on the ingest's store (PostgreSQL): the same signed events stored by
`store_batch` into two fresh databases built by the migrations, one stopped before `partitions_0001` (plain
tables, unique (school, seq)) and one at the heads (partitioned by month, (school, seq) kept by a trigger and
`ingest_event_seqs`). Batches alternate between the two databases so that a loaded machine slows both alike.
Figures: new events/s and redelivered (duplicate) events/s of each, and the ratio.

usage: partition_overhead.py [--events 40000] [--batch 500] [--schools 39] [--no-results]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import psycopg  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

from central_server.core.db import make_engine, make_sessionmaker, utcnow  # noqa: E402
from central_server.core.migrate import alembic_config, upgrade  # noqa: E402
from central_server.ingest.service import Incoming, set_school_key, store_batch  # noqa: E402
from edge_agent import protocol as p  # noqa: E402

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def fresh_db(partitioned: bool) -> tuple[str, str]:
    name = f"bench_part_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    if partitioned:
        upgrade(url)
    else:
        for head in ScriptDirectory.from_config(alembic_config(url)).get_heads():
            if head != "partitions_0001":
                upgrade(url, head)
    return url, name


def events(schools: int, n: int) -> tuple[dict[str, bytes], list[Incoming]]:
    keys = {f"BENCH{i:02d}": os.urandom(32) for i in range(schools)}
    names = list(keys)
    items = []
    for i in range(n):
        school = names[i % schools]
        ev = p.new_event(school, i // schools + 1, p.EventKind.GATE_ARRIVAL, p.GateArrivalPayload(
            student_id=f"{94207000000 + i:012d}", date=p.utcnow().date(), gate="cổng chính",
            source=p.Source(kind=p.SourceKind.CAMERA, camera_id="gate-1"), observed_at=p.utcnow(),
            confidence=0.8), keys[school])
        items.append(Incoming(p.events_topic(school), ev.to_bytes(), utcnow()))
    return keys, items


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--schools", type=int, default=39)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    keys, items = events(args.schools, args.events)
    dbs = {"plain": fresh_db(False), "partitioned": fresh_db(True)}
    engines = {k: make_engine(url) for k, (url, _) in dbs.items()}
    sessions = {k: make_sessionmaker(e) for k, e in engines.items()}
    spent = {(k, phase): 0.0 for k in dbs for phase in ("new", "duplicate")}
    counts = {(k, phase): 0 for k in dbs for phase in ("new", "duplicate")}
    try:
        for k in dbs:
            with sessions[k].begin() as s:
                for school, key in keys.items():
                    set_school_key(s, school, key)
        for phase in ("new", "duplicate"):
            for i in range(0, len(items), args.batch):
                chunk = items[i:i + args.batch]
                for k in (("plain", "partitioned") if (i // args.batch) % 2 == 0 else ("partitioned", "plain")):
                    t0 = time.perf_counter()
                    with sessions[k].begin() as s:
                        out = store_batch(s, chunk, keys.get)
                    spent[(k, phase)] += time.perf_counter() - t0
                    want = "stored" if phase == "new" else "duplicate"
                    assert all(o.status == want for o in out), (k, phase, {o.status for o in out})
                    counts[(k, phase)] += len(out)
    finally:
        for e in engines.values():
            e.dispose()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            for _, name in dbs.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rate = {key: counts[key] / spent[key] for key in spent}
    lines = [f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load "
             f"average {os.getloadavg()[0]:.1f} at the end (the cores were shared with other test runs: compare the "
             "two columns, which alternate batch by batch, not the absolute rates)",
             f"- {args.events:,} signed gate events of {args.schools} schools, `store_batch` in transactions of "
             f"{args.batch} (no MQTT), into a fresh database each; plain = migrations without `partitions_0001`",
             "", "| store | plain events/s | partitioned events/s | partitioned / plain |", "|---|---|---|---|"]
    for phase, label in (("new", "new events"), ("duplicate", "the same events again (redeliveries)")):
        a, b = rate[("plain", phase)], rate[("partitioned", phase)]
        lines.append(f"| {label} | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")
        print(f"{label}: plain {a:,.0f} ev/s, partitioned {b:,.0f} ev/s ({b / a:.2f}x)")
    lines += ["", "Command: `python benchmarks/partition_overhead.py " + " ".join(sys.argv[1:]) + "`"]
    if not args.no_results:
        from results_section import update_section

        update_section("partition_overhead", "Ingest store: plain vs monthly-partitioned PostgreSQL tables",
                       "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
