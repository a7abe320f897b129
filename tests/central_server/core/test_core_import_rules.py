"""The import rules of central_server (ARCHITECTURE.md), read from the source with `ast`, so that they stay true:
no circle between files or between modules, no import strings, nothing of edge_agent but the wire contract,
and an import inside a function only for a heavy optional dependency, with a comment saying so."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "central_server"
COMPOSITION = {"app", "cli", "events"}       # central_server/app.py, cli.py, events.py may import every module


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_main_guard(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _imports(name: str, path: Path, tree: ast.Module) -> list[tuple[ast.AST, str, list[str]]]:
    """(node, module imported, names) for every import outside `if __name__ == "__main__"` blocks."""
    is_pkg = path.name == "__init__.py"
    found = []

    def visit(node: ast.AST) -> None:
        if _is_main_guard(node):
            return  # runs only as a program of its own: a composition root, never part of an import circle
        if isinstance(node, ast.Import):
            found.extend((node, a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node, module, [a.name for a in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graphs():
    modules = _modules()
    files: dict[str, set[str]] = defaultdict(set)
    packages: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for _, module, names in _imports(name, path, tree):
            for target in [module, *(f"{module}.{n}" for n in names)]:
                if target in modules and target != name:
                    files[name].add(target)
                    src, dst = name.split(".")[1:2], target.split(".")[1:2]
                    if src and dst and src != dst:
                        packages[src[0]].add(dst[0])
    return modules, files, packages


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif not state.get(nxt):
                dfs(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            dfs(node, [])
    return found


def test_no_import_circle_between_files_or_modules():
    _, files, packages = _graphs()
    assert _cycles(files) == []
    assert _cycles(packages) == []
    # the downlink and the ingest: control uses ingest (keys, settings), never the other way round
    assert "control" not in packages["ingest"] and "attendance" not in packages["ingest"]
    assert "attendance" not in packages["masterdata"]


def test_only_the_composition_imports_every_module():
    """Only the composition root wires every module. The operations centre (ioc) is the one reader of all of them:
    it may read their tables (and the attendance rules' reports), never their routes, pages or services that write."""
    _, _, packages = _graphs()
    modules = {"masterdata", "attendance", "ingest", "control", "admissions", "signature", "library"}
    for name, path in _modules().items():
        if name.startswith("central_server.ioc"):
            for _, module, _ in _imports(name, path, ast.parse(path.read_text(encoding="utf-8"))):
                parts = module.split(".")
                if len(parts) > 2 and parts[0] == "central_server" and parts[1] in modules:
                    assert parts[2] in ("tables", "reports", "service"), f"{path} imports {module}"
                    assert parts[2] != "service" or parts[1] == "masterdata", f"{path} imports {module}"
    for name, targets in packages.items():
        if name not in COMPOSITION and name != "ioc":
            assert not COMPOSITION & targets, f"{name} imports the composition root {COMPOSITION & targets}"
            assert len(targets & modules) < 4, f"{name} imports {sorted(targets)}"


def test_no_import_strings_and_only_the_wire_contract_of_the_edge():
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        assert "importlib" not in text, f"{path}: modules are listed explicitly (app.py, events.py)"
        for _, module, _ in _imports(name, path, ast.parse(text)):
            if module.startswith("edge_agent"):
                assert module == "edge_agent.protocol" or module.startswith("edge_agent.protocol."), \
                    f"{path} imports {module}: central_server may use the wire contract only"


def test_imports_inside_functions_say_why():
    """A function-level import keeps a heavy optional dependency out of a light command; a comment says so
    (on the line, or on the lines just above the function's first import, or in the file's command-group note)."""
    for path in _modules().values():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            inner = [n for n in ast.walk(func) if isinstance(n, ast.Import | ast.ImportFrom) and n is not func]
            if not inner:
                continue
            first = min(n.lineno for n in inner)
            nearby = lines[max(0, first - 3):first] + [lines[n.lineno - 1] for n in inner]
            file_note = any(line.startswith("# Commands import their work inside the function")
                            or line.startswith("# Each command imports its work inside the function")
                            for line in lines)
            assert file_note or any("#" in line for line in nearby), \
                f"{path}:{first} imports inside {func.name}() without a comment on the heavy dependency it keeps out"
