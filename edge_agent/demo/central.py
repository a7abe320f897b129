"""The province side of `make demo`: a central server with generated demo data plus the demo edge school, its
ingest worker on the demo broker, each started through the `central-server` commands a newcomer would type.

Only commands run here (subprocesses of `python -m central_server.cli`): the edge package never imports the
central server. The database is a SQLite file in the demo folder, rebuilt on every run.
"""

from __future__ import annotations

import csv
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# the accounts that `central-server demo-data` creates (central_server/attendance/demo.py)
ACCOUNTS = (("so_admin", "quản trị Sở (province_admin)"), ("so_canbo", "cán bộ Sở (province_staff)"),
            ("admin_t01", "quản trị trường THPT Demo 01 (school_admin)"))
DEMO_SIZE = ("--schools", "39", "--classes", "2", "--students", "20", "--days", "20")


def demo_password() -> str:
    """A fresh password for the demo accounts: 20 characters, random, so it passes the admins' policy."""
    return "Demo-" + secrets.token_urlsafe(12)


@dataclass
class CentralDemo:
    workdir: Path
    port: int
    broker_port: int
    ingest_password: str
    password: str = field(default_factory=demo_password)
    procs: list[subprocess.Popen] = field(default_factory=list)
    # the demo's own random secrets, so that nothing runs on the shipped defaults (core/secrets_check.py)
    secrets: dict[str, str] = field(default_factory=lambda: {name: secrets.token_hex(24) for name in (
        "CENTRAL_ADMISSIONS_PID_PEPPER", "CENTRAL_IOC_WEBHOOK_SECRET", "CENTRAL_LIBRARY_OAI_TOKEN_SECRET")})

    @property
    def db(self) -> Path:
        return self.workdir / "central.sqlite3"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.secrets, "PYTHONUNBUFFERED": "1", "CENTRAL_DATABASE_URL": f"sqlite:///{self.db}",
                "CENTRAL_INGEST_PORT": str(self.broker_port), "CENTRAL_INGEST_USERNAME": "central-ingest",
                "CENTRAL_INGEST_PASSWORD": self.ingest_password,
                "CENTRAL_INGEST_PACKAGES_DIR": str(self.workdir / "packages"),
                "CENTRAL_INGEST_CLIENT_ID": f"demo-ingest-{os.getpid()}",
                "CENTRAL_DEMO_PASSWORD": self.password, "CENTRAL_ADMIN_PASSWORD": ""}

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "central_server.cli", *args]

    def _run(self, *args: str) -> str:
        r = subprocess.run(self._cli(*args), cwd=self.workdir, env=self.env(), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"central-server {' '.join(args[:2])} failed ({r.returncode}): "
                               f"{(r.stderr or r.stdout).strip()[-800:]}")
        return r.stdout

    def prepare(self, school: str, school_name: str, roster: list[tuple[str, str, int, str]], key_hex: str,
                say=print) -> None:
        """Migrate a fresh database, fill it with demo data and the edge school's roster
        ((class, grade, personal id, full name) rows), and register the school's event-signing key."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in ("central.sqlite3", "central.sqlite3-wal", "central.sqlite3-shm"):
            (self.workdir / stale).unlink(missing_ok=True)
        roster_csv = self.workdir / "demo-school.csv"
        with roster_csv.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["school_code", "school_name", "class", "grade", "personal_id", "full_name"])
            w.writerows([school, school_name, cls, grade, pid, name] for cls, grade, pid, name in roster)
        say("  central-server db upgrade …")
        self._run("db", "upgrade")
        say("  central-server demo-data (39 trường mẫu + trường của máy trạm demo) …")
        self._run("demo-data", *DEMO_SIZE, "--school-roster", str(roster_csv))
        say(f"  central-server ingest add-school {school} (khóa ký sự kiện của máy trạm) …")
        self._run("ingest", "add-school", school, "--key-hex", key_hex)

    def start(self, timeout: float = 120.0) -> None:
        """`central-server serve` on 127.0.0.1 and `central-server ingest run`; waits for /login to answer."""
        log = (self.workdir / "central.log").open("ab")
        self.procs.append(subprocess.Popen(self._cli("serve", "--host", "127.0.0.1", "--port", str(self.port)),
                                           cwd=self.workdir, env=self.env(), stdout=log, stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen(self._cli("ingest", "run"), cwd=self.workdir, env=self.env(),
                                           stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a central-server process exited ({proc.returncode}); see "
                                       f"{self.workdir / 'central.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"central-server serve did not answer within {timeout:.0f} s; see "
                           f"{self.workdir / 'central.log'}")

    def events_of(self, school: str) -> int:
        """How many of `school`'s events the central database has stored (the ingest worker's commits)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM ingest_events WHERE school = ?", (school,)).fetchone()[0]
        finally:
            conn.close()

    def wait_events(self, school: str, at_least: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            n = self.events_of(school)
            if n >= at_least:
                return n
            self.check_alive()
            time.sleep(0.5)
        return n

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a central-server process stopped ({proc.returncode}); see "
                                   f"{self.workdir / 'central.log'}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
