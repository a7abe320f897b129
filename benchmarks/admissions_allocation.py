"""Allocation speed: 20,000 applicants x 3 aspirations across 40 schools (target < 1 s), rule engine and
the deferred-acceptance simulation. Run: .venv/bin/python benchmarks/admissions_allocation.py"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from results_section import update_section  # noqa: E402

from central_server.admissions import synthetic  # noqa: E402
from central_server.admissions.allocation import allocate  # noqa: E402
from central_server.admissions.deferred import deferred_acceptance  # noqa: E402
from central_server.admissions.plan import parse_plan  # noqa: E402


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--applicants", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()
    d = synthetic.plan_dict(n_regular=38, regular_total=17000)
    plan = parse_plan(d)
    pool = synthetic.applicants(d, n=args.applicants)
    rule = timed(lambda: allocate(plan, pool), args.repeats)
    da = timed(lambda: deferred_acceptance(plan, pool), args.repeats)
    r = allocate(plan, pool)
    rows = [("rule (official)", rule, "< 1 s"), ("deferred acceptance (simulation)", da, "none (policy simulation)")]
    lines = [f"- input: {len(pool):,} applicants, up to {plan.aspiration_count} aspirations, {len(plan.schools)} "
             f"schools (+{len(plan.specialised_classes())} chuyên classes); {len(r.admissions):,} admitted, "
             f"{len(r.ties)} tie decisions logged",
             f"- machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
             f"single thread; load average {os.getloadavg()[0]:.1f} (the machine is shared)", "",
             "| engine | median s | min s | max s | target |", "|---|---|---|---|---|"]
    for name, t, target in rows:
        lines.append(f"| {name} | {statistics.median(t):.3f} | {min(t):.3f} | {max(t):.3f} | {target} |")
    lines += ["", f"Command: `.venv/bin/python benchmarks/admissions_allocation.py --applicants {args.applicants} "
                  f"--repeats {args.repeats}`"]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        update_section("admissions_allocation", "Admissions: allocation engine speed", body)


if __name__ == "__main__":
    main()
