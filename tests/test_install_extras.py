"""Each box installs only its own stack: the province server starts with `.[central]` alone, a school's edge
agent with `.[edge]` alone (setup.cfg).

Installing two clean virtualenvs from PyPI on every run would take minutes and need the network, so the test
emulates them honestly from the installed metadata instead:
1. the distributions one box gets are computed as the closure of `install_requires` + its extra, following
   every installed distribution's own requirements (markers and extras evaluated), exactly as pip resolves them;
2. every third-party top-level import name that no distribution of that closure provides is made unimportable
   (a meta-path finder in a fresh interpreter), as in a venv where it was never installed;
3. in that interpreter, every module of the box's packages is imported, and then the central application is
   built and serves /login over real HTTP, or `edge-agent --help` runs.
A dependency used by a box but missing from its extra fails step 3 with the module's name. The sizes on disk
of the two real installs are in README.md (measured once with pip into throwaway venvs).
"""

from __future__ import annotations

import configparser
import importlib.metadata as md
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow  # about a minute: four fresh interpreters import every module of a box
ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"edge_agent", "central_server", "enrollment_tools", "models", "tests", "benchmarks", "hardware"}


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def requirements_of(extra: str) -> list[Requirement]:
    cfg = _setup_cfg()
    return [Requirement(r) for r in _lines(cfg["options"]["install_requires"])
            + _lines(cfg["options.extras_require"][extra])]


def closure(requirements: list[Requirement]) -> set[str]:
    """Canonical names of every distribution pip would install for these requirements (from installed metadata)."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements if r.marker is None or r.marker.evaluate()]
    done_extras: dict[str, set[str]] = {}
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        new_extras = set(extras) - done_extras.get(name, set())
        if name in seen and not new_extras:
            continue
        seen.add(name)
        done_extras.setdefault(name, set()).update(extras)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            pytest.fail(f"{req.name} is required by setup.cfg but not installed in this venv (pip install -e .[dev])")
        for spec in dist.requires or []:
            sub = Requirement(spec)
            wanted = sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *extras))
            if wanted:
                todo.append((sub, frozenset(sub.extras)))
    return seen


def blocked_names(extra: str) -> list[str]:
    """Top-level import names installed here that the box's closure does not provide."""
    allowed = closure(requirements_of(extra)) | {"pip", "setuptools"}  # what every new venv has
    blocked = set()
    for top, dists in md.packages_distributions().items():
        if top in PROJECT or top in sys.stdlib_module_names or top.startswith("__"):
            continue
        if not any(canonicalize_name(d) in allowed for d in dists):
            blocked.add(top)
    return sorted(blocked)


PRELUDE = r"""
import importlib.abc, importlib.util, pkgutil, sys
BLOCKED = set(BLOCKED_JSON)
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this box's extra)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
for blocked in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    raise SystemExit(f"{blocked} was imported before the blocker")

def import_all(package, skip=()):
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if info.name.endswith(".__main__") or any(info.name == s or info.name.startswith(s + ".") for s in skip):
            continue
        importlib.import_module(info.name)
import importlib
"""

CENTRAL = r"""
import_all("central_server", skip=("central_server.migrations",))
import socket, tempfile, threading, time, urllib.request
import uvicorn
from central_server.app import create_app, metadata
from central_server.core.config import Settings
tmp = tempfile.mkdtemp()
app = create_app(Settings(_env_file=None, database_url=f"sqlite:///{tmp}/c.sqlite3", log_json=False,
                          log_level="WARNING"))
metadata().create_all(app.state.engine)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
threading.Thread(target=server.run, daemon=True).start()
for _ in range(600):
    if server.started: break
    time.sleep(0.05)
with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as r:
    body = r.read().decode("utf-8")
    print("STATUS", r.status, "Đăng nhập" in body)
server.should_exit = True
print("MODULES", ",".join(app.state.modules))
"""

EDGE = r"""
import_all("edge_agent")
import_all("enrollment_tools")
import_all("models")
import configparser, typer
cfg = configparser.ConfigParser(); cfg.read("setup.cfg", encoding="utf-8")
scripts = {k.strip(): v.strip() for k, v in (line.split("=", 1) for line in
           cfg["options.entry_points"]["console_scripts"].strip().splitlines())}
for name in ("edge-agent", "enroll"):
    module, attr = scripts[name].split(":")
    cli = getattr(importlib.import_module(module), attr)
    try:
        typer.main.get_command(cli).main(["--help"], prog_name=name, standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, exc.code
    print("HELP-OK", name)
"""


def run_box(extra: str, body: str) -> subprocess.CompletedProcess:
    code = PRELUDE.replace("BLOCKED_JSON", json.dumps(blocked_names(extra))) + body
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=170,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(Path.home())})


def test_the_extras_split_the_heavy_stacks():
    central, edge = closure(requirements_of("central")), closure(requirements_of("edge"))
    for vision in ("onnxruntime", "faiss-cpu", "opencv-python-headless", "insightface", "numpy"):
        assert vision in edge and vision not in central, vision
    for server in ("pyhanko", "boto3", "pymarc", "sqlalchemy", "psycopg", "alembic"):
        assert server in central and server not in edge, server
    dev = closure(requirements_of("dev"))
    assert central | edge <= dev and {"pytest", "ruff"} <= dev


def test_central_server_runs_with_the_central_extra_alone():
    blocked = blocked_names("central")
    assert {"onnxruntime", "faiss", "cv2", "insightface", "numpy"} <= set(blocked)
    out = run_box("central", CENTRAL)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "STATUS 200 True" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "MODULES core,masterdata,attendance,ingest,admissions,signature,library" in out.stdout


def test_edge_agent_runs_with_the_edge_extra_alone():
    blocked = blocked_names("edge")
    assert {"pyhanko", "boto3", "pymarc", "sqlalchemy", "psycopg", "alembic", "reportlab"} <= set(blocked)
    out = run_box("edge", EDGE)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "HELP-OK edge-agent" in out.stdout and "HELP-OK enroll" in out.stdout, out.stdout + out.stderr[-2000:]


def test_the_blocker_really_blocks():
    """The emulation can fail: code that needs a server-only package fails in the edge box."""
    out = run_box("edge", "import central_server.signature.pades\n")  # pyHanko, asn1crypto ...
    assert out.returncode != 0 and "not in this box's extra" in out.stderr, out.stderr[-2000:]
    out = run_box("central", "import edge_agent.vision.detector\n")      # onnxruntime, numpy ...
    assert out.returncode != 0 and "not in this box's extra" in out.stderr, out.stderr[-2000:]
