"""The hardware guide, bill of materials, systemd units and log rotation exist and are consistent with the code."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hardware"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(HW / "systemd" / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name,cli,args", [
    ("edge-agent.service", "edge_agent.cli", ["run"]),
    ("central-server.service", "central_server.cli", ["serve"]),
])
def test_systemd_units_start_real_commands_and_stop_with_sigterm(name, cli, args):
    u = unit(name)
    service = u["Service"]
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "always"
    assert u["Install"]["WantedBy"] == "multi-user.target"
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/" + name.split(".")[0]) and argv[1:1 + len(args)] == args
    options = [a for a in argv if a.startswith("--")]
    module = __import__(cli, fromlist=["app"])
    result = CliRunner().invoke(module.app, args + ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for opt in options:
        assert opt in result.output, f"{name}: {opt} is not an option of `{' '.join(args)}`"
    if shutil.which("systemd-analyze"):
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(HW / "systemd" / name)],
                             capture_output=True, text=True)
        syntax = [line for line in out.stderr.splitlines()
                  if "Unknown key" in line or "Unknown section" in line or "Invalid" in line]
        assert not syntax, syntax


def test_logrotate_config_is_valid(tmp_path):
    if not shutil.which("logrotate"):
        pytest.skip("logrotate not installed")
    conf = (HW / "logrotate" / "soctrang-edu").read_text().replace("/var/log/soctrang-edu", str(tmp_path))
    conf = conf.replace("    su root root\n", "")
    (tmp_path / "edge-agent.log").write_text("x\n" * 10)
    (tmp_path / "lr.conf").write_text(conf)
    out = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(tmp_path / "lr.conf")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "error" not in out.stderr.lower(), out.stderr
    assert "edge-agent.log" in out.stderr


def _money(cell: str) -> float:
    return float(cell.replace("*", "").replace(",", "").strip())


def test_bill_of_materials_adds_up_and_fits_the_budget():
    text = (HW / "bill-of-materials.md").read_text(encoding="utf-8")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if re.match(r"^\| [1-9] \|", line)]
    assert len(rows) >= 5
    one_off = 0.0
    for row in rows:
        qty, unit_price, total = int(row[3]), _money(row[4]), _money(row[5])
        assert total == pytest.approx(qty * unit_price), row
        one_off += total
    stated = _money(re.search(r"\*\*one-off\*\* \|.*\| \*\*([\d.]+)\*\*", text).group(1))
    assert stated == pytest.approx(one_off)
    running = _money(re.search(r"\*\*running total\*\* \|.*\| \*\*([\d.]+)\*\*", text).group(1))
    per_school = _money(re.search(r"Phase 1 one-off \+ 3 years running \| ([\d.]+) \| ([\d,.]+)", text).group(1))
    assert per_school == pytest.approx(one_off + running)
    assert "390 million VND per year for 39 THPT schools" in text
    budget_per_school = 390 / 39 * 3
    assert per_school <= budget_per_school, "the per-school cost must fit the plan's budget line"


def test_hardware_guide_states_the_camera_and_mounting_requirements():
    text = (HW / "README.md").read_text(encoding="utf-8")
    for needle in ("WDR ≥ 120 dB", "≥ 12 fps", "≥ 120 px wide", "≤ 15°", "≥ 200 lux", "no backlight", "UPS",
                   "benchmarks/pipeline_fps.py", "edge-agent init --school", "1080p"):
        assert needle in text, needle
