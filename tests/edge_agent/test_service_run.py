"""`edge-agent run` as a real process: the demo school's walk-by video through the real models, health JSON from
`edge-agent status`, graceful SIGTERM; plus `edge-agent init`, the typed config and the CPU governor."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from edge_agent.capture.cpu_budget import CpuGovernor
from edge_agent.cli import app
from edge_agent.config import ConfigError, load_settings
from edge_agent.protocol import verify_obj
from edge_agent.store.school_keys import read_key

CLI = [sys.executable, "-c", "from edge_agent.cli import app; app()"]


def edge_agent(*args, cwd=None, timeout=60):
    return subprocess.run(CLI + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, model_store):
    from edge_agent.demo.e2e import build
    from edge_agent.recognition.thresholds import ThresholdsError, load_thresholds

    try:
        load_thresholds(os.environ.get("EDGE_PATHS__THRESHOLDS"))
    except ThresholdsError as exc:
        pytest.fail(f"the service needs the calibrated thresholds (issue 3, benchmarks/accuracy.py --calibrate): {exc}")
    return build(tmp_path_factory.mktemp("school"), store=model_store)


def test_run_status_and_graceful_sigterm(demo):
    from edge_agent.demo.e2e import BIDEN, OBAMA, start_service, wait_until_played

    proc = start_service(demo)
    try:
        health = wait_until_played(demo, proc, timeout=180)
        status = edge_agent("status", "--config", str(demo.config))
        assert status.returncode == 0, status.stdout + status.stderr
        live = json.loads(status.stdout)
        assert live["state"] == "running" and live["school"] == "THPT-DEMO" and live["pid"] == proc.pid
        cam = live["cameras"][0]
        assert (cam["name"], cam["room"], cam["state"], cam["errors"]) == ("a101-door", "A101", "ended", 0)
        assert cam["frames"] == 48 and cam["fps"] > 0 and cam["last_frame_age_s"] >= 0
        # the placement check for the school's IT staff: the demo's walkers are pasted 110-120 px tall, so every
        # track that ended grew wider than 60 px (the tracks end when the video's end is processed: the next
        # health write after that says so)
        deadline = time.monotonic() + 30
        while cam["face_tracks"] == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            cam = json.loads(edge_agent("status", "--config", str(demo.config)).stdout)["cameras"][0]
        assert cam["face_tracks"] >= 1 and cam["small_face_tracks"] == 0, cam
        assert 0.6 * 110 <= cam["median_face_px"] <= 1.1 * 120
        assert live["cpu"]["budget_cores"] == 1.5 and live["recognition"]["gallery"] == "loaded"
        assert health["recognition"]["outcomes"].get("proposed_present") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, "SIGTERM is a clean stop"

    stopped = edge_agent("status", "--config", str(demo.config))
    assert stopped.returncode == 1 and json.loads(stopped.stdout)["state"] == "stopped"
    wal = demo.db.with_name(demo.db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was checkpointed on shutdown"
    conn = sqlite3.connect(demo.db)
    conn.row_factory = sqlite3.Row
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    marks = {r["student_id"]: r["proposal"] for r in conn.execute("SELECT * FROM marks")}
    assert marks[OBAMA] == "present", "Obama (obama3.jpg, never enrolled from it) proposed present in 10A1"
    assert BIDEN not in marks, "Biden belongs to 10A2: not marked in 10A1"
    seen = conn.execute("SELECT kind, room, class_id FROM sightings WHERE student_id = ?", (BIDEN,)).fetchall()
    assert [tuple(r) for r in seen] == [("seen_in_room", "A101", "10A2")]
    key = read_key(demo.workdir / "keys")
    events = [json.loads(r[0]) for r in conn.execute("SELECT body FROM outbox ORDER BY seq")]
    assert [(e["kind"], e["payload"]["student_id"], e["payload"]["status"]) for e in events] == [
        ("attendance.proposed", OBAMA, "present")]
    assert verify_obj(events[0], key) and events[0]["payload"]["source"]["camera_id"] == "a101-door"
    assert all(r["final"] is None for r in conn.execute("SELECT final FROM marks")), "nothing final without teacher"
    conn.close()


def test_sigterm_mid_stream_finishes_cleanly(demo, tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text(demo.config.read_text(encoding="utf-8").replace('data_dir = "."', f'data_dir = "{demo.workdir}"')
                   .replace('keys_dir = "keys"', f'keys_dir = "{demo.workdir / "keys"}"')
                   .replace('source = "walkby.avi"', f'source = "{demo.video}"\nloop = true')
                   .replace("[kiosk]", "[kiosk]\nenabled = false"), encoding="utf-8")
    proc = subprocess.Popen(CLI + ["run", "--config", str(cfg)], cwd=tmp_path)
    health_path = demo.workdir / "health.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            h = json.loads(health_path.read_text(encoding="utf-8"))
            if h["state"] == "running" and h["pid"] == proc.pid and h["cameras"][0]["frames"] > 5:
                break
        except (FileNotFoundError, json.JSONDecodeError, KeyError, IndexError):
            pass
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("service did not start streaming")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    h = json.loads(health_path.read_text(encoding="utf-8"))
    assert h["state"] == "stopped" and h["cameras"][0]["state"] == "stopped"
    conn = sqlite3.connect(demo.db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_bad_config_and_missing_keys_give_clear_errors(tmp_path):
    bad = tmp_path / "edge.toml"
    bad.write_text('school_code = "THPT-X"\n[[cameras]]\nname = "c1"\nsource = 0\nrole = "classroom"\n',
                   encoding="utf-8")
    result = edge_agent("run", "--config", str(bad))
    assert result.returncode == 2 and "cameras.0" in result.stderr and "needs a room" in result.stderr
    bad.write_text('school_code = "THPT-X"\n[kiosk\nport = 1\n', encoding="utf-8")
    result = edge_agent("run", "--config", str(bad))
    assert result.returncode == 2 and result.stderr.startswith("Lỗi: ") and "invalid TOML" in result.stderr
    bad.write_text('school_code = "THPT-X"\n', encoding="utf-8")
    result = edge_agent("run", "--config", str(bad))
    assert result.returncode == 2 and "thiếu tệp khoá (key file missing)" in result.stderr
    assert "edge-agent init" in result.stderr
    result = edge_agent("run", "--config", str(tmp_path / "none.toml"))
    assert result.returncode == 2 and "không tìm thấy tệp cấu hình" in result.stderr


def test_init_writes_config_and_private_keys(tmp_path):
    runner = CliRunner()
    out = tmp_path / "box" / "edge.toml"
    result = runner.invoke(app, ["init", "--school", "THPT-LDT", "--out", str(out), "--data-dir", "var/edge"])
    assert result.exit_code == 0, result.output
    settings = load_settings(out)
    assert settings.school_code == "THPT-LDT" and settings.paths.db_path == tmp_path / "box/var/edge/school.sqlite3"
    keys = settings.paths.keys_dir
    for name in ("event-hmac.key", "gallery-aes.key"):
        mode = stat.S_IMODE((keys / name).stat().st_mode)
        assert mode == 0o600, f"{name} must be private, is {oct(mode)}"
    key = read_key(keys)
    assert len(key) == 32
    again = runner.invoke(app, ["init", "--school", "THPT-LDT", "--out", str(out)])
    assert again.exit_code == 1 and again.output.startswith("Lỗi: ") and "đã có" in again.output
    assert read_key(keys) == key, "keys are never replaced silently"
    assert runner.invoke(app, ["init", "--school", "bad code!", "--out", str(tmp_path / "x.toml")]).exit_code == 2


def test_settings_file_and_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('school_code = "THPT-LDT"\n[kiosk]\nport = 9000\n[[cameras]]\nname = "gate"\nsource = '
                   '"rtsp://10.0.0.2/s1"\nrole = "gate"\ndirection = "in"\n', encoding="utf-8")
    monkeypatch.setenv("EDGE_KIOSK__PORT", "9100")
    monkeypatch.setenv("EDGE_CPU__BUDGET_CORES", "2.5")
    s = load_settings(cfg)
    assert (s.kiosk.port, s.cpu.budget_cores, s.cameras[0].role, s.cameras[0].room) == (9100, 2.5, "gate", None)
    monkeypatch.setenv("EDGE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="timezone: Value error, unknown time zone"):
        load_settings(cfg)
    monkeypatch.delenv("EDGE_TIMEZONE")
    cfg.write_text('school_code = "THPT-LDT"\n[attendance]\nlate_grace_min = 20\ncheckin_after_min = 10\n',
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="late_grace_min must lie inside the check-in window"):
        load_settings(cfg)


def test_cpu_governor_sleeps_off_excess_use():
    clock = {"wall": 0.0, "cpu": 0.0}
    slept = []

    def sleep(s):
        slept.append(s)
        clock["wall"] += s

    gov = CpuGovernor(1.0, window_s=5.0, cpu_clock=lambda: clock["cpu"], wall_clock=lambda: clock["wall"],
                      sleep=sleep)
    clock["wall"] += 1.0
    clock["cpu"] += 0.5                     # half a core: under budget
    assert gov.throttle() == 0.0
    clock["wall"] += 1.0
    clock["cpu"] += 2.5                     # two threads busy for a second and a bit: 3 s CPU in 2 s
    pause = gov.throttle()
    assert pause == pytest.approx(1.0) and slept == [pytest.approx(1.0)]
    assert gov.usage() == pytest.approx(1.0)
    half = CpuGovernor(0.5, cpu_clock=lambda: clock["cpu"], wall_clock=lambda: clock["wall"], sleep=sleep)
    clock["wall"] += 1.0
    clock["cpu"] += 1.0
    assert half.throttle() == pytest.approx(1.0), "at half a core, 1 s of CPU needs 2 s of wall time"


def test_status_without_a_running_service(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'school_code = "THPT-LDT"\n[paths]\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    result = edge_agent("status", "--config", str(cfg))
    assert result.returncode == 2 and "is edge-agent running" in json.loads(result.stdout)["error"]
    (tmp_path / "health.json").write_text(json.dumps({"state": "running", "pid": 999999999,
                                                      "updated_at": "2025-09-08T00:00:00+00:00"}))
    result = edge_agent("status", "--config", str(cfg))
    assert result.returncode == 1 and json.loads(result.stdout)["state"] == "dead"


def test_demo_lesson_is_on_time_at_any_hour():
    """`make demo` runs on the wall clock: at every minute of the day its lesson takes the walk-by as on time."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from edge_agent.attendance.lessons import window
    from edge_agent.attendance.timetable import bell_schedule
    from edge_agent.config import AttendanceRules, BellConfig
    from edge_agent.demo.e2e import TZ, demo_period

    tz = ZoneInfo(TZ)
    midnight = datetime(2026, 11, 29, tzinfo=tz)
    for minute in range(24 * 60):
        for second in (0, 59):
            now = midnight + timedelta(minutes=minute, seconds=second)
            start, period_min, late_min = demo_period(now)
            rules = AttendanceRules(checkin_after_min=max(late_min, 15), late_grace_min=late_min)
            (period,) = bell_schedule(BellConfig(morning_start=start.time(), morning_periods=1,
                                                 afternoon_periods=0, period_minutes=period_min))
            begins = datetime.combine(now.date(), period.start, tz)
            assert start.date() == now.date() and period.start < period.end, now  # inside the day
            opens, closes = window(begins, rules.checkin_before_min, rules.checkin_after_min)
            assert opens <= now <= closes and now <= begins + timedelta(minutes=rules.late_grace_min), now
