"""`edge-agent demo` on the sample photos of the face_recognition sdist: Obama matches Obama, not Biden."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_correct_matches(model_store):
    result = subprocess.run([sys.executable, "-m", "edge_agent.demo.matches"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if ".jpg" in line and "│" in line]
    verdicts = {tuple(cell.strip() for cell in row.split("│")[1:3]): row for row in rows}
    assert len(verdicts) == 6
    for (a, b), row in verdicts.items():
        expected = "same person" if "biden" not in a + b else "different people"
        assert expected in row, row
