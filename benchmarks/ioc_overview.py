"""Operations centre (IOC): overview latency at 50 concurrent users, event stored -> indicator updated, and the
full rebuild of every aggregate, on SQLite or PostgreSQL.

Builds a database with the demo data builder's people scaled up and a school year of marks written by set-based
SQL (`ioc_year.py`: 39 schools x `--students-per-school` students in classes of 40, `--days` school days of 2
sessions, finalised marks, realistic absences), times `job.rebuild` (what
`central-server ioc rebuild` runs), then serves it with `central-server serve` (uvicorn, `--workers`) while
`central-server ioc run` folds new facts in its own process, and fires requests at /api/ioc/overview and
/api/ioc/schools/{id} from N concurrent async clients. During the load it stores events through the ingest's
own `store_batch` (signed, verified, applied in one transaction) and measures until the tiles cover it (the
job's tiles transaction moves `tiles:attendance_history` with the tiles).

    .venv/bin/python benchmarks/ioc_overview.py                       # SQLite, 39 x 1,200 students, 175 days
    .venv/bin/python benchmarks/ioc_overview.py --days 15             # a smaller year
    .venv/bin/python benchmarks/ioc_overview.py --database-url sqlite:///var/ioc_year.sqlite3  # kept, reused
    .venv/bin/python benchmarks/ioc_overview.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
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

import ioc_year  # noqa: E402
from ioc_year import KEY, PASSWORD  # noqa: E402
from results_section import update_section  # noqa: E402
from sqlalchemy import select  # noqa: E402

from central_server.attendance.service import apply_event  # noqa: E402
from central_server.attendance.tables import AttendanceHistory  # noqa: E402
from central_server.core.config import Settings  # noqa: E402
from central_server.core.db import make_engine, make_sessionmaker, utcnow  # noqa: E402
from central_server.ingest.service import Incoming, store_batch  # noqa: E402
from central_server.ioc import job  # noqa: E402
from central_server.ioc.aggregates import HISTORY  # noqa: E402
from central_server.ioc.config import IocSettings  # noqa: E402
from central_server.ioc.tables import IocTile, IocWatermark  # noqa: E402
from central_server.masterdata.tables import School, Student  # noqa: E402
from edge_agent.protocol import AttendancePayload, EventKind, Source, events_topic, new_event  # noqa: E402
from edge_agent.protocol import Session as LessonSession  # noqa: E402


def build(url: str, args) -> dict:
    """A school year of marks written with set-based SQL (`ioc_year.build`), or the database filled before."""
    return ioc_year.build(url, args.students_per_school, args.days, password=PASSWORD)


def rebuild(url: str) -> tuple[float, dict]:
    engine = make_engine(url)
    try:
        t0 = time.perf_counter()
        out = job.rebuild(make_sessionmaker(engine), Settings(_env_file=None, database_url=url),
                          IocSettings(_env_file=None))
        return time.perf_counter() - t0, out
    finally:
        engine.dispose()


def first_tick(url: str) -> tuple[float, dict]:
    """The job's first full run after the rebuild: judges every alert rule on every student (opens the alerts)."""
    engine = make_engine(url)
    try:
        t0 = time.perf_counter()
        out = job.tick(make_sessionmaker(engine), Settings(_env_file=None, database_url=url),
                       IocSettings(_env_file=None), deliver=False)
        return time.perf_counter() - t0, out
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EventWriter:
    """Stores one signed event at a time exactly as the MQTT ingest worker does (verify, store, apply, commit)."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.settings = Settings(_env_file=None, database_url=url)
        self.apply = lambda s, e: apply_event(s, e, self.settings)
        with self.sessions() as s:
            self.schools = list(s.execute(select(School.id, School.code)).all())
            self.students = {sid: list(s.scalars(select(Student.personal_id).where(Student.school_id == sid)))
                             for sid, _ in self.schools}
            last = s.get(IocTile, ("P", "last_day"))
            self.day = dt.date.fromisoformat(last.detail["day"])
        self.seq = int(time.time() * 1000)  # above any earlier run of this script on the same database
        self.rng = random.Random(5)

    def folded(self, history_id: int) -> bool:
        """True once the tiles cover the event's history row: the job's tiles transaction moves
        `tiles:attendance_history` with the tiles, so the indicator shows the event from then on."""
        with self.sessions() as s:
            mark = s.get(IocWatermark, job.TILES_OF + HISTORY)
            return mark is not None and mark.last_id >= history_id and str(history_id) not in (mark.gaps or {})

    def store(self) -> int:
        """Store (and apply) an event marking a random student K on the last school day; its history row id."""
        sid, code = self.rng.choice(self.schools)
        self.seq += 1
        payload = AttendancePayload(student_id=self.rng.choice(self.students[sid]), class_code="x", date=self.day,
                                    session=LessonSession.MORNING, status="K",
                                    source=Source(kind="teacher", teacher_id="GV-BENCH"), observed_at=utcnow())
        ev = new_event(code, self.seq, EventKind.ATTENDANCE_FINALISED, payload, KEY)
        with self.sessions() as s:
            out = store_batch(s, [Incoming(events_topic(code), ev.to_bytes(), utcnow())], lambda _c: KEY,
                              self.apply)
            assert out[0].status == "stored", out
            s.commit()
            return s.scalar(select(AttendanceHistory.id).where(AttendanceHistory.event_id == str(ev.event_id)))


async def run_load(base: str, args, writer: EventWriter) -> tuple[dict[str, list[float]], list[float], int]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        r = await c.post("/api/auth/token", data={"username": "so_canbo", "password": PASSWORD})
        assert r.status_code == 200, (r.status_code, r.text[:500])
        token = r.json()
        h = {"Authorization": f"Bearer {token['access_token']}"}
        schools = [s["id"] for s in (await c.get("/api/ioc/overview", headers=h)).json()["schools"]]
    targets = {"overview": lambda r: "/api/ioc/overview", "school": lambda r: f"/api/ioc/schools/{r.choice(schools)}"}
    timings: dict[str, list[float]] = {k: [] for k in targets}
    errors = 0
    limits = httpx.Limits(max_connections=args.users + 2, max_keepalive_connections=args.users + 2)
    latencies: list[float] = []
    dropped = [0]
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
        per_user = args.requests // args.users

        async def user(i: int) -> None:
            nonlocal errors
            rng = random.Random(i)
            if args.think_ms:  # users arrive spread over one think time, not all in the same millisecond
                await asyncio.sleep(rng.uniform(0, args.think_ms / 1000))
            for _ in range(per_user):
                name = "overview" if rng.random() < 0.7 else "school"
                t0 = time.perf_counter()
                try:
                    r = await c.get(targets[name](rng), headers=h)
                except httpx.TransportError:  # an idle keep-alive connection the server closed: counted, skipped
                    dropped[0] += 1
                    continue
                timings[name].append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 200
                if args.think_ms:
                    await asyncio.sleep(rng.expovariate(1000 / args.think_ms))

        async def freshness() -> None:
            await asyncio.sleep(2)
            while len(latencies) < args.events:
                t0 = time.perf_counter()
                history_id = await asyncio.to_thread(writer.store)
                while time.perf_counter() - t0 < 60 and not await asyncio.to_thread(writer.folded, history_id):
                    await asyncio.sleep(0.05)
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(1)

        tasks = [asyncio.create_task(user(i)) for i in range(args.users)]
        fresh = asyncio.create_task(freshness())
        await asyncio.gather(*tasks)
        await fresh
    print(f"connections dropped by the server while idle (request skipped): {dropped[0]}")
    return timings, latencies, errors + dropped[0]


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def serve(url: str, args, tmp: str) -> tuple[subprocess.Popen, subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, CENTRAL_DATABASE_URL=url, CENTRAL_LOG_LEVEL="WARNING", CENTRAL_IOC_RUN_JOB="false",
               CENTRAL_INGEST_CONTROL_DISPATCH="false", CENTRAL_LIBRARY_INGEST_WORKER="false",
               CENTRAL_LIBRARY_STORAGE_DIR=str(Path(tmp) / "library"), PYTHONPATH=str(ROOT))
    log = open(Path(tmp) / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "central_server.cli", "serve", "--port", str(port),
                               "--workers", str(args.workers)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    job_env = dict(env, CENTRAL_IOC_JOB_INTERVAL_S=str(args.job_interval))
    worker = subprocess.Popen([sys.executable, "-m", "central_server.cli", "ioc", "run"], env=job_env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, worker, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="an empty database, or one this script filled before (reused as is); "
                                           "default: a temporary SQLite file")
    ap.add_argument("--students-per-school", type=int, default=1200)
    ap.add_argument("--days", type=int, default=175, help="school days of marks (175 = 35 weeks, a year)")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--think-ms", type=int, default=1000, help="mean pause of each user between requests")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--job-interval", type=float, default=1.0, help="seconds between two runs of the IOC job")
    ap.add_argument("--events", type=int, default=10, help="events stored during the load (freshness samples)")
    ap.add_argument("--note", default="", help="a line added to the results (e.g. the machine's load)")
    ap.add_argument("--no-results", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    t0 = time.perf_counter()
    counts = build(url, args)
    build_s = time.perf_counter() - t0
    print(f"data: {counts} in {build_s:.0f} s", flush=True)
    rebuild_s, rebuilt = rebuild(url)
    print(f"rebuild: {rebuild_s:.1f} s {rebuilt}", flush=True)
    tick_s, ticked = first_tick(url)
    print(f"first full run of the job: {tick_s:.1f} s {ticked}", flush=True)
    server, worker, base = serve(url, args, tmp.name)
    writer = EventWriter(url)
    try:
        timings, latencies, errors = asyncio.run(run_load(base, args, writer))
    except Exception:
        print((Path(tmp.name) / "server.log").read_text()[-3000:])
        raise
    finally:
        for p in (server, worker):
            p.terminate()
            p.wait(timeout=30)
        writer.engine.dispose()
    backend = url.split(":", 1)[0].split("+")[0]
    lines = ["| measure | n | p50 | p95 | max | target |", "|---|---|---|---|---|---|"]
    for name, values in timings.items():
        lines.append(f"| GET {name} (ms) | {len(values)} | {pct(values, 50):.0f} | {pct(values, 95):.0f} | "
                     f"{max(values):.0f} | {'p95 < 150' if name == 'overview' else ''} |")
    lines.append(f"| event stored -> indicator updated (s) | {len(latencies)} | {pct(latencies, 50):.2f} | "
                 f"{pct(latencies, 95):.2f} | {max(latencies):.2f} | < 5 |")
    lines.append(f"| full rebuild of every aggregate (s) | 1 | {rebuild_s:.1f} | | | < 300 |")
    lines.append(f"| first full job run after it, all alert rules on every student (s) | 1 | {tick_s:.1f} | | | |")
    print("\n".join(lines))
    print(f"errors: {errors}")
    if args.no_results:
        return
    cmd = "`.venv/bin/python benchmarks/ioc_overview.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k not in ("no_results", "database_url", "note") and v != ap.get_default(k)) + (
        " --database-url postgresql+psycopg://…" if backend == "postgresql" else
        f" --database-url {args.database_url}" if args.database_url else "") + "`"
    data = (f"{counts['schools']} schools, {counts['students']:,} students, {counts['days']} school days x 2 "
            f"sessions, {counts['marks']:,} session marks (+ as many history and session rows)"
            + (", database built by an earlier run of the script" if counts.get("reused") else ""))
    built = "" if counts.get("reused") else f"; built in {build_s:.0f} s"
    body = (f"- data: {data} ({backend}){built}; rebuild folded {rebuilt['history_rows']:,} "
            f"history rows, {rebuilt['student_states']:,} student states, {rebuilt['school_days']:,} school-days; "
            f"the first full job run opened {ticked.get('opened', 0):,} alerts\n"
            f"- load: {args.users} concurrent users (async httpx, bearer token), {args.requests} requests (70 % "
            f"overview, 30 % school drill-down), mean think time {args.think_ms} ms (first request after a uniform "
            f"0-{args.think_ms} ms), {args.workers} uvicorn "
            f"worker(s) + `central-server ioc run` (job every {args.job_interval} s); "
            f"non-200 answers or dropped connections: {errors}\n"
            f"- freshness: events stored through the ingest's `store_batch` during the load, timed until the job's "
            f"tiles transaction covers them (`tiles:attendance_history` watermark)\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()} (server, "
            f"job and load generator share the CPUs)" + (f"; {args.note}" if args.note else "") + "\n\n"
            + "\n".join(lines) + f"\n\nCommand: {cmd}")
    update_section(f"ioc_overview_{backend}", f"Operations centre (IOC): overview, freshness, rebuild ({backend})",
                   body)


if __name__ == "__main__":
    main()
