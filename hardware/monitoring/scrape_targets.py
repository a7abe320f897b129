#!/usr/bin/env python3
"""Generate Prometheus file_sd targets for the schools' edge agents from the school list.

Source, one of:
  --csv FILE           a CSV with the columns `code` (or `Mã trường`), `name` (or `Tên trường`) and optionally
                       `edge_host` (or `Địa chỉ edge`): the edge box's address on the ops VPN;
  --database-url URL   the central database's `schools` table (active schools), e.g. postgresql+psycopg://...
                       (a read-only query; needs SQLAlchemy, installed with the central server).
A school without an edge_host gets `--host-template` (default `edge-{code}.ops.internal`, `{code}` lower-cased).

Output: a JSON list of target groups (Prometheus `file_sd_configs`), one per school, labelled `school` and
`school_name`, written atomically to --out (default prometheus/targets/edges.json beside this script);
Prometheus re-reads it by itself. Run it again whenever a school is added or its edge box moves:

    python3 hardware/monitoring/scrape_targets.py --database-url "$CENTRAL_DATABASE_URL"
    python3 hardware/monitoring/scrape_targets.py --csv truong.csv --port 9108
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{2,32}$")
HOST_RE = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$")
COLUMNS = {"code": ("code", "Mã trường"), "name": ("name", "Tên trường"), "edge_host": ("edge_host", "Địa chỉ edge")}


class SchoolListError(ValueError):
    """The school list cannot be used; the message says which row and why."""


def _pick(row: dict, key: str) -> str:
    for header in COLUMNS[key]:
        if row.get(header) not in (None, ""):
            return row[header].strip()
    return ""


def schools_from_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not any(h in reader.fieldnames for h in COLUMNS["code"]):
            raise SchoolListError(f"{path}: no column `code` / `Mã trường`")
        return [{"code": _pick(r, "code"), "name": _pick(r, "name"), "edge_host": _pick(r, "edge_host"),
                 "row": f"row {i}"} for i, r in enumerate(reader, start=2)]


def schools_from_database(url: str) -> list[dict]:
    from sqlalchemy import create_engine, text  # only this source needs SQLAlchemy

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT code, name FROM schools WHERE active ORDER BY code")).all()
    finally:
        engine.dispose()
    return [{"code": code, "name": name or "", "edge_host": "", "row": f"school {code}"} for code, name in rows]


def target_groups(schools: list[dict], port: int, host_template: str) -> list[dict]:
    groups, seen = [], set()
    for s in schools:
        code = s["code"]
        if not CODE_RE.match(code):
            raise SchoolListError(f"{s['row']}: invalid school code {code!r}")
        if code in seen:
            raise SchoolListError(f"{s['row']}: school {code} is listed twice")
        seen.add(code)
        host = s["edge_host"] or host_template.format(code=code.lower())
        if not HOST_RE.match(host):
            raise SchoolListError(f"{s['row']}: invalid edge address {host!r}")
        target = host if ":" in host else f"{host}:{port}"
        groups.append({"targets": [target], "labels": {"school": code, "school_name": s["name"]}})
    if not groups:
        raise SchoolListError("the school list is empty")
    return groups


def write_atomic(path: Path, groups: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".edges-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(groups, f, ensure_ascii=False, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", type=Path)
    src.add_argument("--database-url")
    ap.add_argument("--port", type=int, default=9108, help="the edge agents' metrics port ([metrics] port)")
    ap.add_argument("--host-template", default="edge-{code}.ops.internal")
    ap.add_argument("--out", type=Path, default=HERE / "prometheus" / "targets" / "edges.json")
    args = ap.parse_args(argv)
    try:
        schools = schools_from_csv(args.csv) if args.csv else schools_from_database(args.database_url)
        groups = target_groups(schools, args.port, args.host_template)
    except (SchoolListError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_atomic(args.out, groups)
    print(f"{len(groups)} edge targets written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
