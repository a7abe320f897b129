"""The backup, partition-maintenance and ingest-worker units in hardware/systemd/ run real commands with real
options, and their timers are valid."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]
SYSTEMD = ROOT / "hardware" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    assert parser.read(SYSTEMD / name, encoding="utf-8"), name
    return parser


@pytest.mark.parametrize("name,cli,args", [
    ("central-backup", "central_server.cli", ["backup"]),
    ("edge-backup", "edge_agent.cli", ["backup"]),
    ("central-partitions", "central_server.cli", ["db", "partitions"]),
])
def test_backup_service_and_timer(name, cli, args):
    service = unit(f"{name}.service")["Service"]
    assert service["Type"] == "oneshot" and service["UMask"] == "0077"
    argv = shlex.split(service["ExecStart"])
    assert argv[1:1 + len(args)] == args
    module = __import__(cli, fromlist=["app"])
    result = CliRunner().invoke(module.app, args + ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for opt in (a for a in argv if a.startswith("--")):
        assert opt in result.output, f"{name}: {opt} is not an option of `{' '.join(args)}`"
    timer = unit(f"{name}.timer")
    assert timer["Timer"]["Persistent"] == "true" and timer["Install"]["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):
        cal = subprocess.run(["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]],
                             capture_output=True, text=True)
        assert cal.returncode == 0, cal.stderr
        for f in (f"{name}.service", f"{name}.timer"):
            out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(SYSTEMD / f)],
                                 capture_output=True, text=True)
            bad = [line for line in out.stderr.splitlines()
                   if "Unknown key" in line or "Unknown section" in line or "Invalid" in line]
            assert not bad, bad


def test_ingest_worker_template_joins_the_shared_group():
    from central_server.ingest.config import IngestSettings

    service = unit("central-ingest@.service")["Service"]
    env = dict(item.split("=", 1) for item in shlex.split(service["Environment"]))
    assert env == {"CENTRAL_INGEST_CLIENT_ID": "central-ingest-%i", "CENTRAL_INGEST_SHARED_GROUP": "ingest",
                   "CENTRAL_INGEST_METRICS_PORT": "910%i"}
    assert set(env) <= {f"CENTRAL_INGEST_{name.upper()}" for name in IngestSettings.model_fields}
    argv = shlex.split(service["ExecStart"])
    assert argv[1:] == ["ingest", "run"] and service["Restart"] == "always"
    module = __import__("central_server.cli", fromlist=["app"])
    assert CliRunner().invoke(module.app, ["ingest", "run", "--help"]).exit_code == 0
    if shutil.which("systemd-analyze"):
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(SYSTEMD / "central-ingest@.service")],
                             capture_output=True, text=True)
        assert not [line for line in out.stderr.splitlines() if "Unknown" in line or "Invalid" in line], out.stderr
