"""Latency of the province overview and drill-down endpoints under 50 concurrent users.

Builds a database with generated data (39 schools, a school year of finalised session marks), serves it
with `central-server serve` (uvicorn, one process) and fires requests from N concurrent async clients,
each signed in with a bearer token. Prints p50/p95/max per endpoint and updates benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/central_api.py                       # SQLite, a full year (175 school days)
    .venv/bin/python benchmarks/central_api.py --days 30 --requests 1000
    .venv/bin/python benchmarks/central_api.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
PASSWORD = "Bench-2025-pass"


def build(url: str, args) -> dict:
    from bench_db import migrated_engine

    from central_server.attendance.demo import DemoSize, generate

    engine = migrated_engine(url)
    try:
        from sqlalchemy import func, select

        from central_server.attendance.tables import AttendanceMark
        from central_server.masterdata.tables import School, Student

        with engine.connect() as conn:
            if conn.scalar(select(func.count()).select_from(School)):  # reuse a database built before
                n = conn.scalar(select(func.count()).select_from(Student))
                days = conn.scalar(select(func.count(func.distinct(AttendanceMark.day))))
                marks = conn.scalar(select(func.count()).select_from(AttendanceMark))
                return {"schools": conn.scalar(select(func.count()).select_from(School)), "students": n,
                        "days": days, "marks": marks, "reused": True}
        return generate(engine, DemoSize(args.schools, args.classes, args.students, args.days), dt.date.today(),
                        password=PASSWORD)
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_load(base: str, args) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        token = (await c.post("/api/auth/token", data={"username": "so_canbo", "password": PASSWORD})).json()
        h = {"Authorization": f"Bearer {token['access_token']}"}
        overview = (await c.get("/api/attendance/overview", headers=h)).json()
        schools = [s["school_id"] for s in overview["schools"]]
        classes = []
        for sid in schools[:10]:
            classes += [k["class_id"] for k in (await c.get(f"/api/attendance/schools/{sid}", headers=h)).json()
                        ["classes"]]
        students = [s["student_id"] for cid in classes[:5] for s in
                    (await c.get(f"/api/attendance/classes/{cid}", headers=h)).json()["students"]]
    targets = {"overview": lambda r: "/api/attendance/overview",
               "school": lambda r: f"/api/attendance/schools/{r.choice(schools)}",
               "class": lambda r: f"/api/attendance/classes/{r.choice(classes)}",
               "student": lambda r: f"/api/attendance/students/{r.choice(students)}"}
    timings: dict[str, list[float]] = {k: [] for k in targets}
    errors = 0
    limits = httpx.Limits(max_connections=args.users, max_keepalive_connections=args.users)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
        per_user = args.requests // args.users

        async def user(i: int) -> None:
            nonlocal errors
            rng = random.Random(i)
            for _ in range(per_user):
                name = rng.choice(list(targets))
                t0 = time.perf_counter()
                r = await c.get(targets[name](rng), headers=h)
                timings[name].append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 200
                if args.think_ms:
                    await asyncio.sleep(rng.expovariate(1000 / args.think_ms))

        await asyncio.gather(*(user(i) for i in range(args.users)))
    timings["_errors"] = [errors]
    return timings


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="an empty database, or one this script filled before (reused as is); "
                                           "default: a temporary SQLite file")
    ap.add_argument("--schools", type=int, default=39)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--days", type=int, default=175, help="school days of marks (175 = 35 weeks, a year)")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--think-ms", type=int, default=1000,
                    help="mean pause of each user between requests (0 = closed loop, every user always waiting)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--no-results", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    t0 = time.perf_counter()
    counts = build(url, args)
    load_s = time.perf_counter() - t0
    print(f"data: {counts} in {load_s:.0f} s")
    port = free_port()
    env = dict(os.environ, CENTRAL_DATABASE_URL=url, CENTRAL_MODULES='["core","masterdata","attendance"]',
               CENTRAL_LOG_LEVEL="WARNING")
    server_log = open(Path(tmp.name) / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "central_server.cli", "serve", "--port", str(port),
                               "--workers", str(args.workers)], env=env,
                              cwd=ROOT, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        timings = asyncio.run(run_load(base, args))
    except Exception:
        print((Path(tmp.name) / "server.log").read_text()[-3000:])
        raise
    finally:
        server.terminate()
        server.wait(timeout=20)
    errors = timings.pop("_errors")[0]
    backend = url.split(":", 1)[0].split("+")[0]
    lines = ["| endpoint | requests | p50 ms | p95 ms | max ms | target p95 |", "|---|---|---|---|---|---|"]
    for name, values in timings.items():
        row = f"| {name} | {len(values)} | {pct(values, 50):.0f} | {pct(values, 95):.0f} | {max(values):.0f} | < 200 |"
        lines.append(row)
        print(row)
    print(f"errors: {errors}")
    if args.no_results:
        return
    cmd = "`.venv/bin/python benchmarks/central_api.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k not in ("no_results", "database_url") and v != ap.get_default(k)) + "`"
    body = (f"- data: {counts['schools']} schools, {counts['students']} students, {counts['days']} school days, "
            f"{counts['marks']:,} session marks ({backend}); "
            + ("database reused from an earlier run of this script\n" if counts.get("reused") else
               f"built in {load_s:.0f} s\n") +
            f"- load: {args.users} concurrent users (async httpx, bearer token), {args.requests} requests, mean think "
            f"time {args.think_ms} ms, {args.workers} uvicorn worker(s); non-200 answers: {errors}\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()} "
            f"(server and load generator share the CPUs)\n\n" + "\n".join(lines) + f"\n\nCommand: {cmd}")
    from results_section import update_section

    mode = "closed" if args.think_ms == 0 else "users"
    update_section(f"central_api_{backend}_{mode}",
                   f"Central server: overview and drill-down latency ({backend}, "
                   f"{'closed loop' if mode == 'closed' else 'users with think time'})", body)


if __name__ == "__main__":
    main()
