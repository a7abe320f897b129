"""Results-day lookup load: the real server (uvicorn, N workers, PostgreSQL) with a published province-sized
result (12,800 candidates), hammered from a local client on loopback only, bounded in count and time.
Target: >= 500 lookups/s, p95 < 100 ms, 0 errors on the 2-core machine; the ceiling is reported too.

Run: .venv/bin/python benchmarks/admissions_lookup.py [--workers 2] [--seconds 15] [--concurrency 16,64]
Needs PostgreSQL at 127.0.0.1:5432 (trust auth); creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from results_section import update_section  # noqa: E402

HOST = "127.0.0.1"  # loopback only


def seed(url: str, n: int) -> list[tuple[str, str]]:
    """A published admission: plan, n applications with scores, one allocation run, published."""
    from sqlalchemy import insert

    from central_server.admissions import runs, synthetic
    from central_server.admissions.config import AdmissionsSettings
    from central_server.admissions.service import save_plan
    from central_server.admissions.tables import AdmApplication, AdmScore
    from central_server.core.db import make_engine, make_sessionmaker
    from central_server.core.migrate import upgrade

    upgrade(url)
    engine = make_engine(url)
    sm = make_sessionmaker(engine)

    class Actor:
        id, username, role = None, "benchmark", "province_admin"

    d = synthetic.plan_dict()
    pool = synthetic.applicants(d, n=n, direct=0)
    creds = []
    with sm() as s:
        row = save_plan(s, Actor(), d)
        apps = []
        for i, a in enumerate(pool):
            pid = f"0793{i:08d}"
            apps.append({"year": d["year"], "personal_id": pid, "candidate_no": a.id[2:].rjust(6, "0"),
                         "full_name": f"Thí sinh {i}", "dob": dt.date(2010, 1 + i % 12, 1 + i % 28),
                         "ethnicity": a.ethnicity, "lower_secondary": "THCS", "aspirations": list(a.aspirations),
                         "specialised": [], "priority": list(a.priority), "prizes": [], "review": {},
                         "edit_secret_hash": "x" * 64, "receipt_code": uuid.uuid4().hex, "channel": "online",
                         "direct_group": "", "created_at": dt.datetime.now(dt.UTC),
                         "updated_at": dt.datetime.now(dt.UTC)})
            creds.append((a.id[2:].rjust(6, "0"), pid))
        s.execute(insert(AdmApplication), apps)
        ids = dict(s.execute(AdmApplication.__table__.select().with_only_columns(
            AdmApplication.personal_id, AdmApplication.id)).all())
        s.execute(insert(AdmScore), [{"application_id": ids[f"0793{i:08d}"], "scores": dict(a.scores),
                                      "cancelled": a.cancelled, "remarked": False,
                                      "updated_at": dt.datetime.now(dt.UTC)} for i, a in enumerate(pool)])
        run = runs.run_allocation(s, Actor(), row)
        runs.publish(s, AdmissionsSettings(pid_pepper="bench"), Actor(), run, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        s.commit()
    engine.dispose()
    return creds


async def load(port: int, creds, seconds: float, concurrency: int, max_requests: int, path: str, html: bool):
    """Keep-alive HTTP/1.1 clients on loopback; each request a random candidate (10 % wrong id)."""
    lat: list[float] = []
    errors = {"count": 0}
    sent = {"n": 0}
    stop_at = time.perf_counter() + seconds

    async def exchange(reader, writer, req: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        writer.write(req)
        await writer.drain()
        status_line = await reader.readline()
        headers: dict[bytes, bytes] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        return int(status_line.split()[1]), headers, body

    async def form_token(reader, writer) -> tuple[str, str]:
        """Like a browser: load the lookup page once for its CSRF cookie and the form's hidden token."""
        code, headers, body = await exchange(reader, writer, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        cookie = headers.get(b"set-cookie", b"").split(b";")[0].decode()
        match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
        if code != 200 or not cookie or not match:
            raise RuntimeError(f"GET {path}: no CSRF cookie/token (status {code})")
        return cookie, match.group(1).decode()

    async def worker(seed_: int):
        rng = random.Random(seed_)
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            cookie, token = await form_token(reader, writer) if html else ("", "")
            while time.perf_counter() < stop_at and sent["n"] < max_requests:
                sent["n"] += 1
                cno, pid = rng.choice(creds)
                wrong = rng.random() < 0.1
                if html:
                    body = (f"candidate_no={cno}&personal_id={'000000000000' if wrong else pid}"
                            f"&csrf_token={token}").encode()
                    ctype = f"application/x-www-form-urlencoded\r\nCookie: {cookie}"
                else:
                    body = json.dumps({"candidate_no": cno, "personal_id": "000000000000" if wrong else pid}).encode()
                    ctype = "application/json"
                req = (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {ctype}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                t = time.perf_counter()
                code, _, _ = await exchange(reader, writer, req)
                lat.append(time.perf_counter() - t)
                if code != (404 if wrong else 200):
                    errors["count"] += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall = time.perf_counter() - t0
    lat.sort()
    return {"requests": len(lat), "rps": len(lat) / wall, "p50": lat[len(lat) // 2] * 1000,
            "p95": lat[int(len(lat) * 0.95)] * 1000, "p99": lat[int(len(lat) * 0.99)] * 1000,
            "mean": statistics.fmean(lat) * 1000, "errors": errors["count"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--candidates", type=int, default=12800)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-requests", type=int, default=60000)
    ap.add_argument("--concurrency", default="8,32,64")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import psycopg

    name = f"bench_adm_{uuid.uuid4().hex[:8]}"
    admin = f"host={HOST} port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@{HOST}:5432/{name}"
    server = None
    try:
        t = time.perf_counter()
        creds = seed(url, args.candidates)
        seed_s = time.perf_counter() - t
        port = free_port()
        env = {**os.environ, "CENTRAL_DATABASE_URL": url, "CENTRAL_MODULES": '["core","admissions"]',
               "CENTRAL_LOG_LEVEL": "WARNING", "CENTRAL_ADMISSIONS_LOOKUP_PER_MINUTE": "100000000",
               "CENTRAL_ADMISSIONS_LOOKUP_FAILURES_PER_HOUR": "100000000",
               "CENTRAL_ADMISSIONS_PID_PEPPER": "bench"}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "central_server.app:create_app", "--factory", "--host", HOST,
             "--port", str(port), "--workers", str(args.workers), "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.3)
        asyncio.run(load(port, creds, 2.0, 8, 2000, "/api/admissions/lookup", False))  # warm every worker's cache
        rows = []
        for conc in [int(c) for c in args.concurrency.split(",")]:
            for path, html in (("/api/admissions/lookup", False), ("/tuyen-sinh/tra-cuu", True)):
                r = asyncio.run(load(port, creds, args.seconds, conc, args.max_requests, path, html))
                rows.append((path, conc, r))
                print(path, conc, {k: round(v, 1) for k, v in r.items()}, flush=True)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    load_avg = os.getloadavg()
    best = max(rows, key=lambda r: r[2]["rps"] if r[2]["errors"] == 0 else 0)
    lines = [f"- server: uvicorn, {args.workers} workers, PostgreSQL; {args.candidates:,} published candidates "
             f"(seeded + allocated + published in {seed_s:.1f} s); client: asyncio keep-alive HTTP/1.1 on "
             f"127.0.0.1, on the same {os.cpu_count()}-core machine (it competes with the server for CPU); "
             "10 % of lookups use a wrong id (expected 404)",
             f"- load average at the end (other jobs share the machine): {load_avg[0]:.1f} / {load_avg[1]:.1f} / "
             f"{load_avg[2]:.1f}", "",
             "| endpoint | connections | requests | lookups/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for path, conc, r in rows:
        lines.append(f"| {path} | {conc} | {r['requests']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                     f"{r['p99']:.1f} | {r['errors']} |")
    lines += ["", f"Ceiling (best error-free): {best[2]['rps']:.0f} lookups/s on {best[0]} with {best[1]} "
                  f"connections (p95 {best[2]['p95']:.1f} ms). Target: >= 500 lookups/s with p95 < 100 ms, 0 errors.",
              "", f"Command: `.venv/bin/python benchmarks/admissions_lookup.py --workers {args.workers} "
                  f"--seconds {args.seconds:g} --concurrency {args.concurrency}`"]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        update_section("admissions_lookup", "Admissions: results-day lookup load", body)


if __name__ == "__main__":
    main()
