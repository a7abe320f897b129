"""The import rules of ARCHITECTURE.md ("may import" table, no import circles), checked on the source with `ast`.

Every `import` counts, at module level or inside a function (a lazy import still ties the two files together);
only imports under `if TYPE_CHECKING:` are left out, they never run. The checker reads a source tree, so the
unit tests at the end can feed it a small fake tree that breaks each rule and see it fail.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_agent", "enrollment_tools", "central_server", "models")

# edge_agent's parts and what each may import (besides itself), read transitively: a part may also use what the
# parts it may import may import (attendance -> store -> protocol). `config` is the agent's typed settings
# object (pydantic only, imports nothing of the project) that any part may read.
EDGE_MAY_IMPORT: dict[str, set[str]] = {
    "protocol": set(),
    "config": set(),
    "capture": {"config"},
    "vision": {"models"},
    "store": {"protocol", "config"},
    "recognition": {"vision", "store"},
    "sync": {"protocol", "store"},
    "attendance": {"store", "sync", "config"},
}
EDGE_TOP = {"kiosk", "cli", "demo", "service", "metrics"}            # "the above": every part listed before
ONLY_CLI_AND_DEMO_IMPORT = "demo"
ENROLMENT_MAY_IMPORT = {"edge_agent.protocol", "edge_agent.store", "edge_agent.recognition", "edge_agent.vision",
                        "edge_agent.config", "models"}
CENTRAL_MAY_IMPORT = {"edge_agent.protocol"}
# third-party packages a part may use (None: no limit); the standard library is always allowed
THIRD_PARTY: dict[str, set[str] | None] = {
    "edge_agent.protocol": {"pydantic"},
    "edge_agent.capture": {"cv2", "numpy"},
}
NEVER_IN_CENTRAL = {"cv2", "onnxruntime", "onnx", "faiss", "insightface"}  # the vision stack stays on the edge
# central_server's own circles are removed by the central half of issue 14 (another branch); until that is
# merged its internal circles are reported by the skip message instead of failing. Set to False once merged.
CENTRAL_CYCLES_PENDING = False


@dataclass
class Tree:
    root: Path
    modules: dict[str, Path] = field(default_factory=dict)          # dotted name -> file
    edges: dict[str, dict[str, int]] = field(default_factory=dict)  # importer -> {imported project module: line}
    third: dict[str, dict[str, int]] = field(default_factory=dict)  # importer -> {top-level third-party: line}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def scan(root: Path, packages: tuple[str, ...] = PACKAGES) -> Tree:
    t = Tree(root)
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")) if (root / pkg).is_dir() else []:
            t.modules[module_name(root, path)] = path
    tops = {name.split(".")[0] for name in t.modules}
    for name, path in t.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_checking_lines(tree)
        is_pkg = path.name == "__init__.py"
        edges, third = t.edges.setdefault(name, {}), t.third.setdefault(name, {})
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg_parts = name.split(".") if is_pkg else name.split(".")[:-1]
                    pkg_parts = pkg_parts[:len(pkg_parts) - node.level + 1]
                    base = ".".join(pkg_parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in t.modules else base for a in node.names]
            for target in targets:
                top = target.split(".")[0]
                if top in tops:
                    wanted = target
                    while target and target not in t.modules:  # `import a.b.name` -> the module a.b
                        target = target.rpartition(".")[0]
                    if "." not in target and wanted.count(".") >= 1:  # a file the tree lacks: keep its part
                        target = ".".join(wanted.split(".")[:2])
                    if target and target != name:
                        edges.setdefault(target, node.lineno)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    third.setdefault(top, node.lineno)
    return t


def part(module: str) -> str:
    """The part of the project a module belongs to: `edge_agent.<sub>` (or `edge_agent.service`), else the package."""
    bits = module.split(".")
    if bits[0] == "edge_agent" and len(bits) > 1:
        return "edge_agent." + bits[1]
    return bits[0]


def _edge_allowed(sub: str) -> set[str] | None:
    """The edge parts `sub` may import (None: anything but demo)."""
    if sub in EDGE_TOP:
        return None
    seen, todo = set(), [sub]
    while todo:
        for dep in EDGE_MAY_IMPORT.get(todo.pop(), set()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def violations(t: Tree) -> list[str]:
    out = []
    for src, targets in sorted(t.edges.items()):
        src_part, src_file = part(src), t.modules[src].relative_to(t.root)
        for dst, line in sorted(targets.items()):
            dst_part = part(dst)
            if dst_part == src_part or (src_part == "edge_agent" and dst_part.startswith("edge_agent")):
                continue  # inside one part; `edge_agent/__init__.py` is a docstring
            why = None
            if dst_part == "edge_agent." + ONLY_CLI_AND_DEMO_IMPORT and src_part not in ("edge_agent.cli",):
                why = "nothing but cli/ and demo/ imports demo code"
            elif src_part.startswith("edge_agent."):
                sub = src_part.split(".")[1]
                if sub not in EDGE_MAY_IMPORT and sub not in EDGE_TOP:
                    why = f"edge_agent/{sub} is not in the architecture's folder table"
                else:
                    allowed = _edge_allowed(sub)
                    dst_sub = dst_part.split(".", 1)[1] if dst_part.startswith("edge_agent.") else dst_part
                    if allowed is not None and dst_sub not in allowed:
                        why = f"edge_agent/{sub} may import only {sorted(allowed) or 'the standard library'}"
                    elif allowed is None and not (dst_part.startswith("edge_agent.") or dst_part == "models"):
                        why = f"edge_agent/{sub} may import edge_agent and models only"
            elif src_part == "enrollment_tools":
                if dst_part not in ENROLMENT_MAY_IMPORT:
                    why = f"enrollment_tools may import only {sorted(ENROLMENT_MAY_IMPORT)}"
            elif src_part == "central_server":
                if dst_part not in CENTRAL_MAY_IMPORT:
                    why = "central_server may import edge_agent.protocol only"
            elif src_part == "models":
                why = "models imports nothing of the project"
            if why:
                out.append(f"{src_file}:{line} imports {dst}: {why}")
    for src, third in sorted(t.third.items()):
        src_part, src_file = part(src), t.modules[src].relative_to(t.root)
        allowed = THIRD_PARTY.get(src_part)
        for lib, line in sorted(third.items()):
            if allowed is not None and lib not in allowed:
                out.append(f"{src_file}:{line} imports {lib}: {src_part} may use only the standard library "
                           f"and {sorted(allowed)}")
            if src_part == "central_server" and lib in NEVER_IN_CENTRAL:
                out.append(f"{src_file}:{line} imports {lib}: the vision stack never runs on the central server")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one node (Tarjan), each as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # recursion depth is bounded by the number of project modules (hundreds)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(_cycle_in(sorted(comp), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _cycle_in(comp: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete circle inside a strongly connected component, for the message: a -> b -> ... -> a."""
    members, start = set(comp), comp[0]
    prev: dict[str, str] = {}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
            if w in members and w not in prev:
                prev[w] = v
                todo.append(w)
    return comp


def file_graph(t: Tree) -> dict[str, set[str]]:
    return {src: set(dsts) for src, dsts in t.edges.items()}


def part_graph(t: Tree) -> dict[str, set[str]]:
    g: dict[str, set[str]] = defaultdict(set)
    for src, dsts in t.edges.items():
        for dst in dsts:
            a, b = part(src), part(dst)
            if a != b and a != "edge_agent" and b != "edge_agent":
                g[a].add(b)
    return dict(g)


def _fmt(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in found)


# ---------------------------------------------------------------------------------------------- the repository
@pytest.fixture(scope="module")
def repo() -> Tree:
    return scan(ROOT)


def test_every_package_is_scanned(repo):
    for pkg in PACKAGES:
        assert pkg in repo.modules, f"{pkg}/__init__.py not found"
    assert "edge_agent.protocol.events" in repo.modules and "edge_agent.store.school_db" in repo.modules


def test_the_may_import_table_holds(repo):
    found = violations(repo)
    assert not found, "imports against ARCHITECTURE.md's folder table:\n" + "\n".join(found)


def test_no_import_circles_between_parts(repo):
    found = cycles(part_graph(repo))
    assert not found, "import circles between packages / edge_agent parts:\n" + _fmt(found)


def test_no_import_circles_between_files(repo):
    found = [c for c in cycles(file_graph(repo)) if not c[0].startswith("central_server.")]
    assert not found, "import circles between files:\n" + _fmt(found)


def test_no_import_circles_between_central_server_files(repo):
    found = [c for c in cycles(file_graph(repo)) if c[0].startswith("central_server.")]
    if found and CENTRAL_CYCLES_PENDING:
        pytest.skip("central_server's circles are removed by issue 14's central half:\n" + _fmt(found))
    assert not found, "import circles between central_server files:\n" + _fmt(found)


# ---------------------------------------------------------------------------------------------- the checker
def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for pkg in PACKAGES:
        (root / pkg).mkdir(exist_ok=True)
        (root / pkg / "__init__.py").touch()
    return root


def test_checker_accepts_a_tree_that_keeps_the_rules(tmp_path):
    t = scan(write(tmp_path, {
        "edge_agent/protocol/__init__.py": "from edge_agent.protocol.events import Event\nimport pydantic\n",
        "edge_agent/protocol/events.py": "import json\nfrom pydantic import BaseModel\nclass Event(BaseModel): ...\n",
        "edge_agent/store/db.py": "import sqlite3\nfrom edge_agent.protocol import Event\n",
        "edge_agent/recognition/pipeline.py": "from edge_agent.vision import align\nfrom edge_agent.store import db\n"
                                              "from ..protocol import events\n",
        "edge_agent/vision/align.py": "import numpy\nfrom models import store\n",
        "edge_agent/cli/main.py": "def demo():\n    from edge_agent.demo import matches\n",
        "edge_agent/demo/matches.py": "from edge_agent.recognition import pipeline\n",
        "models/store.py": "import hashlib\n",
        "central_server/app.py": "from edge_agent.protocol import Event\nimport fastapi\n",
        "enrollment_tools/cli.py": "from edge_agent.store import db\nfrom edge_agent.config import x\n",
    }))
    assert violations(t) == []
    assert cycles(file_graph(t)) == [] and cycles(part_graph(t)) == []


@pytest.mark.parametrize("files,expected", [
    ({"edge_agent/protocol/topics.py": "import numpy\n"}, "protocol may use only the standard library"),
    ({"edge_agent/protocol/topics.py": "from edge_agent.store import db\n"}, "protocol may import only"),
    ({"edge_agent/store/db.py": "from edge_agent.recognition import gallery\n"}, "store may import only"),
    ({"edge_agent/sync/downsync.py": "def f():\n    from edge_agent.recognition.gallery import G\n"},
     "sync may import only"),
    ({"edge_agent/capture/cameras.py": "import onnxruntime\n"}, "capture may use only"),
    ({"edge_agent/service.py": "from edge_agent.demo.synthetic_stream import face_crop\n"}, "demo code"),
    ({"edge_agent/vision/detector.py": "import enrollment_tools\n"}, "vision may import only"),
    ({"central_server/ingest.py": "from edge_agent.store import db\n"}, "edge_agent.protocol only"),
    ({"central_server/ingest.py": "import cv2\n"}, "vision stack never runs"),
    ({"enrollment_tools/cli.py": "from edge_agent.sync import outbox\n"}, "enrollment_tools may import only"),
    ({"models/store.py": "from edge_agent import config\n"}, "models imports nothing"),
])
def test_checker_reports_each_broken_rule(tmp_path, files, expected):
    found = violations(scan(write(tmp_path, files)))
    assert any(expected in v for v in found), found


def test_checker_reports_circles_with_their_path(tmp_path):
    t = scan(write(tmp_path, {
        "edge_agent/vision/detector.py": "from edge_agent.vision.landmarks import L\n",
        "edge_agent/vision/landmarks.py": "def f():\n    from edge_agent.vision.detector import D\n",  # lazy: a circle
        "edge_agent/vision/types.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                      "    from edge_agent.vision.detector import D\n",
        "edge_agent/store/a.py": "from edge_agent.sync import b\n",
        "edge_agent/sync/b.py": "from edge_agent.store import a\n",
    }))
    assert ["edge_agent.vision.detector", "edge_agent.vision.landmarks", "edge_agent.vision.detector"] \
        in cycles(file_graph(t))
    assert all("edge_agent.vision.types" not in c for c in cycles(file_graph(t)))  # TYPE_CHECKING never runs
    assert ["edge_agent.store", "edge_agent.sync", "edge_agent.store"] in cycles(part_graph(t))
