"""`central-server serve` and `db upgrade` as a newcomer meets them: serve prints its URL, refuses an unmigrated
database with the command that fixes it, and a database that cannot be reached is one Vietnamese line, not a
traceback. Real subprocesses of the console script's module, real SQLite files, a closed PostgreSQL port."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from central_server.core.migrate import missing_heads, upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(tmp_path, *args: str, url: str, timeout: float = 120, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CENTRAL_DATABASE_URL": url, "COLUMNS": "80", **env_extra}
    return subprocess.run([sys.executable, "-m", "central_server.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def migrated_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('migrated') / 'central.sqlite3'}"
    upgrade(url)
    return url


def test_serve_refuses_an_unmigrated_database_and_names_the_fix(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    r = cli(tmp_path, "serve", "--port", str(free_port()), url=url)
    assert r.returncode == 1
    assert lines(r.stderr) == [lines(r.stderr)[0]] and "Traceback" not in r.stderr
    assert lines(r.stderr)[0].startswith("Lỗi:") and "central-server db upgrade" in r.stderr
    assert missing_heads(url)          # nothing was half-created by the refusal


def test_serve_refuses_a_half_migrated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'half.sqlite3'}"
    upgrade(url, "0001_core")
    r = cli(tmp_path, "serve", "--port", str(free_port()), url=url)
    assert r.returncode == 1 and "central-server db upgrade" in r.stderr


def test_serve_prints_its_url_and_answers_there(tmp_path, migrated_url):
    port = free_port()
    env = {**os.environ, "CENTRAL_DATABASE_URL": migrated_url}
    proc = subprocess.Popen([sys.executable, "-m", "central_server.cli", "serve", "--port", str(port)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first, first
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "serve printed its URL but never answered there"
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_db_upgrade_against_an_unreachable_database_is_one_line(tmp_path):
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"   # nothing listens there
    r = cli(tmp_path, "db", "upgrade", url=url)
    assert r.returncode == 1
    out = lines(r.stdout + r.stderr)
    assert len(out) == 1, out
    assert out[0].startswith("Lỗi:") and "Traceback" not in out[0] and "nobody@127.0.0.1" in out[0]


def test_db_upgrade_with_a_unknown_revision_is_one_line(tmp_path):
    r = cli(tmp_path, "db", "upgrade", "no_such_revision", url=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert r.returncode == 2
    assert len(lines(r.stdout + r.stderr)) == 1 and r.stderr.startswith("Lỗi:")


def test_serve_on_an_unreachable_database_is_one_line(tmp_path):
    r = cli(tmp_path, "serve", "--port", str(free_port()),
            url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    assert r.returncode == 1
    assert len(lines(r.stderr)) == 1 and "không kết nối được" in r.stderr


def test_demo_data_school_roster_without_its_columns_is_refused(tmp_path, migrated_url):
    roster = tmp_path / "roster.csv"
    roster.write_text("school_code,class\nTHPT-X,10A1\n", encoding="utf-8")
    r = cli(tmp_path, "demo-data", "--schools", "1", "--classes", "1", "--students", "1", "--days", "1",
            "--school-roster", str(roster), url=migrated_url, CENTRAL_DEMO_PASSWORD="Demo-Kq8s-Zt1w-Rm4p")
    assert r.returncode == 2 and "thiếu cột" in r.stderr and "personal_id" in r.stderr
    conn = sqlite3.connect(migrated_url.removeprefix("sqlite:///"))
    assert conn.execute("SELECT count(*) FROM schools").fetchone()[0] == 0   # nothing written before the refusal
    conn.close()
