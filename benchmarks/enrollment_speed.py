"""Enrolment speed: a whole school (1,500 students x 3 photos, LFW identities as stand-in students) through
`enroll photos` with the real gates, duplicate check and encrypted storage; photos/s on N worker processes.

    .venv/bin/python benchmarks/enrollment_speed.py [--students 1500] [--photos 3] [--workers 2]

Students are the LFW identities with the most photos; an identity with fewer photos than asked gets mirrored
copies of its own photos (a different file, the same person). Writes the `enrollment_speed` section of
benchmarks/RESULTS.md. Target: the whole school in under 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results_section import update_section  # noqa: E402

LFW = ROOT.parent / "shared" / "datasets" / "lfw-deepfunneled" / "images"


def build_school(root: Path, n: int, per: int) -> tuple[Path, Path, int]:
    from edge_agent.store import school_db
    from edge_agent.store.school_keys import write_keys

    (root / "data").mkdir(parents=True)
    config = root / "edge.toml"
    config.write_text('school_code = "BENCH"\n[paths]\ndata_dir = "data"\nkeys_dir = "data/keys"\n')
    write_keys(root / "data" / "keys")
    school_db.close(school_db.connect(root / "data" / "school.sqlite3"))
    people = sorted((p for p in LFW.iterdir() if p.is_dir()), key=lambda p: (-len(list(p.iterdir())), p.name))[:n]
    photos = root / "photos"
    roster = ["Mã định danh,Họ và tên,Ngày sinh,Lớp"]
    consent = ["Mã định danh,Người đồng ý"]
    mirrored = 0
    for i, person in enumerate(people):
        sid = f"0942090{i:05d}"
        folder = photos / sid
        folder.mkdir(parents=True)
        files = sorted(person.iterdir())
        for j in range(per):
            src = files[j % len(files)]
            if j < len(files):
                os.symlink(src, folder / src.name)
            else:
                cv2.imwrite(str(folder / f"mirror_{j}_{src.name}"), cv2.flip(cv2.imread(str(src)), 1))
                mirrored += 1
        roster.append(f"{sid},{person.name.replace('_', ' ')},01/01/2009,10A{i % 12 + 1}")
        consent += [f"{sid},phụ huynh", f"{sid},học sinh"]
    (root / "roster.csv").write_text("\n".join(roster) + "\n", encoding="utf-8")
    (root / "consent.csv").write_text("\n".join(consent) + "\n", encoding="utf-8")
    return config, photos, mirrored


def run(cmd: list[str], config: Path) -> dict:
    from typer.testing import CliRunner

    from enrollment_tools.cli import app

    result = CliRunner().invoke(app, [*cmd, "--config", str(config), "--json"])
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if result.exit_code != 0:
        raise SystemExit(f"{cmd[0]} failed: {data}")
    return data


CURVE = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def false_duplicate_curve(config: Path) -> dict[float, int]:
    """Enrolled students (all different people) whose best *other* student reaches each threshold."""
    import numpy as np

    from edge_agent.config import load_settings
    from edge_agent.store import school_db
    from edge_agent.store.school_keys import GALLERY_KEY, read_key
    from enrollment_tools import templates

    settings = load_settings(config)
    conn = school_db.connect(settings.paths.db_path)
    try:
        cipher = templates.TemplateCipher(read_key(settings.paths.keys_dir, GALLERY_KEY), settings.school_code)
        tpl = templates.load(conn, cipher, templates.embedder_id().sha256)
    finally:
        school_db.close(conn)
    ids = np.asarray(tpl.student_ids)
    sims = tpl.embeddings @ tpl.embeddings.T
    sims[ids[:, None] == ids[None, :]] = -1.0
    best = {}
    for sid, row in zip(ids, sims.max(axis=1), strict=True):
        best[sid] = max(best.get(sid, -1.0), float(row))
    return {t: sum(v >= t for v in best.values()) for t in CURVE}


def _cpu_s() -> float:
    """CPU seconds used by this process and its finished children (the worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=1500)
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="enrol-bench-") as tmp:
        root = Path(tmp)
        config, photos, mirrored = build_school(root, args.students, args.photos)
        run(["roster", "import", str(root / "roster.csv"), "--school", "BENCH", "--apply"], config)
        run(["consent", "import", str(root / "consent.csv")], config)
        load_before = os.getloadavg()[0]
        cpu0 = _cpu_s()
        t0 = time.perf_counter()
        out = run(["photos", str(photos), "--school", "BENCH", "--workers", str(args.workers),
                   "--report", str(root / "report.csv")], config)
        wall = time.perf_counter() - t0
        cpu = _cpu_s() - cpu0
        load_after = os.getloadavg()[0]
        t1 = time.perf_counter()
        run(["export", "--school", "BENCH", "--out", str(root / "g.pkg")], config)
        export_s = time.perf_counter() - t1
        alarms = false_duplicate_curve(config)
    n_photos = out["photos"]
    rate = n_photos / wall
    cpu_ms = cpu * 1000 / n_photos
    uncontended = args.workers * 1000 / cpu_ms  # photos/s if the workers had their cores to themselves
    school_min = 1500 * 3 / rate / 60
    rejected = Counter(r["code"] for r in out["rejected"])
    cov = out["coverage"]["templates_per_student"]
    figures = {"students": args.students, "photos": n_photos, "mirrored_copies": mirrored, "workers": args.workers,
               "wall_s": round(wall, 1), "photos_per_s": round(rate, 1),
               "cpu_ms_per_photo": round(cpu_ms, 1), "photos_per_s_uncontended_est": round(uncontended, 1),
               "whole_school_min": round(school_min, 2),
               "templates_added": out["templates_added"], "coverage": cov, "rejected": dict(rejected),
               "duplicate_threshold": out["duplicate_threshold"], "export_s": round(export_s, 2),
               "students_with_other_student_at_or_above": {str(k): v for k, v in alarms.items()},
               "load_avg_before_after": [round(load_before, 1), round(load_after, 1)], "cpus": os.cpu_count()}
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.no_write:
        return
    verdict = "meets" if school_min < 3 else "MISSES"
    cmd = (f".venv/bin/python benchmarks/enrollment_speed.py --students {args.students} --photos {args.photos} "
           f"--workers {args.workers}")
    body = f"""Command: `{cmd}` (machine: {os.cpu_count()} cores, load average {load_before:.1f} before /
{load_after:.1f} after: shared with other jobs, so the wall-clock rate is pessimistic).

| figure | value |
|---|---|
| students x photos | {args.students} x {args.photos} = {n_photos} photos ({mirrored} mirrored copies) |
| wall time of `enroll photos` (incl. worker start, duplicate check, encrypted writes, report) | {wall:.1f} s |
| **photos/s on {args.workers} workers** | **{rate:.1f}** |
| CPU time per photo (all processes) | {cpu_ms:.0f} ms |
| photos/s with {args.workers} uncontended cores (from CPU time) | {uncontended:.1f} |
| whole school (1,500 x 3) at the measured rate | {school_min:.2f} min ({verdict} the 3-minute target) |
| templates enrolled | {out['templates_added']} |
| students with 0 / 1 / 2 / 3+ templates | {cov['0']} / {cov['1']} / {cov['2']} / {cov['3+']} |
| photos rejected, by reason | {', '.join(f'{k} {v}' for k, v in rejected.most_common()) or 'none'} |
| duplicate threshold (calibrated) | {out['duplicate_threshold']} |
| `enroll export` (decrypt + package + encrypt) | {export_s:.2f} s |

LFW identities are distinct people, so every `duplicate` rejection here is a false duplicate alarm at the
calibrated threshold (or one of LFW's known label errors); the staff member resolves it with `--force`.
Enrolled students (of {out['coverage']['active_students']}, all different people) whose best template of a
*different* student reaches a given threshold, i.e. false duplicate alarms had that been the threshold:
{' · '.join(f'{t}: {n}' for t, n in alarms.items())}.
For comparison, the same person photographed in another session scores about 0.78-0.84 with this embedder
(ea-nuaa-webcam-15 cross-session) and 0.93+ within one session."""
    update_section("enrollment_speed", "Enrolment speed (enroll photos)", body)


if __name__ == "__main__":
    main()
