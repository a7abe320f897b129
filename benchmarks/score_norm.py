"""Would cohort score normalisation name the walk-by's missed students without naming strangers?

    .venv/bin/python benchmarks/score_norm.py [--seeds 0,1] [--days 5] [--strangers 120]

The walk-by (benchmarks/walkby.py) leaves a few enrolled walkers unnamed each day: their tracks' set scores
(the quality-weighted mean embedding of the track, `SetDecision.mean_embedding`) sit under the accept
threshold, where the best strangers' tracks also sit. Score normalisation against a cohort (Z-/AS-norm, as in
speaker and face verification) rescales a probe's score to its candidate by the spread of its scores to
everyone else: a blurred face whose cosines are all compressed would gain, a "generic" face that resembles
many students would lose. Here the cohort is the school's other enrolled students (available to the camera,
nothing to ship).

This benchmark renders the walk-by's days (same people, same videos, seeds as walkby.py), embeds EVERY tracked
face (fused MobileFaceNet + SFace; templates from the enrolment photos only, no learning), forms each track's
set embedding and scores it against the class roster. Per walker and day the best track counts (named at best
once a day, as in walkby.py); per stranger walk the highest-scoring track. Rules compared:
- `raw`: the set cosine to the roster's top student (what production thresholds);
- `z-all`: (raw - mean) / std of the probe's best-template cosines to every other student of the school;
- `z-top10`: the same over the 10 highest of those (adaptive cohort).
Reported per rule: the highest value any stranger's track reaches, and the enrolled walker-days whose track
ranks the right student first above that value: the most a threshold on that rule could name with no
stranger named, the threshold chosen with hindsight (an upper bound: a calibrated one does worse).
"""

from __future__ import annotations

import argparse
import platform
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_section import command_line, update_section  # noqa: E402

RULES = ("raw", "z-all", "z-top10")


def track_rows(seed: int, days: int, strangers: int, datasets: str | None) -> dict:
    """Render one seed's days; per track: day, walker, kind, person id and the three rule values."""
    from quality_floor import every_track
    from walkby import day_walkers, enrol, setup
    from walkby_scene import CropSource

    from edge_agent.recognition.thresholds import load_thresholds
    from edge_agent.recognition.track_decision import SetDecision
    from edge_agent.vision.embedder import normalise
    from edge_agent.vision.embedder_choice import build_embedder

    args = argparse.Namespace(roster=40, absent=2, strangers=strangers, seed=seed, datasets=datasets)
    store, analyzer, roster_people, enrolled, stranger_pool = setup(args)
    fused, _ = build_embedder("fusion", store, threads=1, weight=load_thresholds(embedder="fusion").fusion_weight)
    templates, ids = enrol(analyzer, {"fusion": (fused, None)}, enrolled)["fusion"]
    templates, ids = normalise(templates), np.array(ids)
    students = sorted(set(ids.tolist()))
    roster = {p.pid for p in roster_people}
    in_roster = np.array([s in roster for s in students])
    cols = [ids == s for s in students]
    setd = SetDecision()
    crops = CropSource(analyzer.detector)
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(1, days + 1):
        walkers = day_walkers(rng, day, roster_people, stranger_pool, crops, args)
        tracks = every_track(analyzer.detector, fused, walkers, seed)
        for k, person, frames in tracks:
            if person.kind == "other":
                continue
            mean = setd.mean_embedding(frames)
            s = templates @ mean
            per = np.array([s[c].max() for c in cols])
            top = int(np.argmax(np.where(in_roster, per, -np.inf)))
            others = np.sort(np.delete(per, top))[::-1]
            raw = float(per[top])
            rows.append({"day": day, "walker": k, "kind": person.kind, "pid": person.pid,
                         "right": students[top] == person.pid, "raw": raw,
                         "z-all": (raw - others.mean()) / (others.std() + 1e-6),
                         "z-top10": (raw - others[:10].mean()) / (others[:10].std() + 1e-6)})
        print(f"seed {seed} day {day}: {len(tracks)} tracks", file=sys.stderr, flush=True)
    return {"seed": seed, "rows": rows}


def separation(rows: list[dict], accept: float, rules: tuple[str, ...] = RULES) -> dict:
    """Per rule: highest stranger value and walker-days named above it (right student ranked first); at the
    accept threshold: walker-days named and stranger walks named (raw score)."""
    best: dict[tuple, dict] = {}
    for r in rows:
        if r["kind"] == "roster":
            key = (r["day"], r["walker"])
            b = best.get(key)
            # the walker's best track: a right-ranked track beats a wrong one, then the higher raw score
            if b is None or (r["right"], r["raw"]) > (b["right"], b["raw"]):
                best[key] = r
    genuine = list(best.values())
    strangers: dict[tuple, dict] = {}
    for r in rows:
        if r["kind"] == "stranger":
            key = (r["day"], r["walker"])
            if key not in strangers or r["raw"] > strangers[key]["raw"]:
                strangers[key] = r
    out = {"walker_days": len(genuine), "stranger_walks": len(strangers),
           "at_accept": sum(1 for g in genuine if g["right"] and g["raw"] >= accept),
           "strangers_at_accept": sum(1 for s in strangers.values() if s["raw"] >= accept),
           "last_day": max(g["day"] for g in genuine)}
    last = [g for g in genuine if g["day"] == out["last_day"]]
    out["last_day_walkers"] = len(last)
    for rule in rules:
        top = max(r[rule] for r in rows if r["kind"] == "stranger")
        out[rule] = {"stranger_max": top,
                     "named": sum(1 for g in genuine if g["right"] and g[rule] > top),
                     "named_last_day": sum(1 for g in last if g["right"] and g[rule] > top)}
    return out


def share(a: int, n: int) -> str:
    """'a/n (x.x %)', as the walk-by replays' tables show counts."""
    return f"{a}/{n} ({100 * a / n:.1f} %)"


def markdown(results: list[dict], accept: float, command: str) -> str:
    lines = [f"Command: `{command}`  ",
             f"Machine: {platform.machine()}, Python {platform.python_version()}. Fused MobileFaceNet + SFace, "
             "every tracked face embedded, templates from the enrolment photos only (no learning); each track "
             "decided on its set embedding against the class roster. 'Named with no stranger': enrolled "
             "walker-days whose track ranks the right student first ABOVE the highest value any stranger's track "
             "reaches on that rule (threshold chosen with hindsight: an upper bound). Calibrated fused accept "
             f"threshold: {accept:.3f}.", "",
             "| seed | rule | stranger walks | highest stranger value | walker-days named with no stranger | "
             "last day | raw >= accept |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        sep = r["separation"]
        n, last = sep["walker_days"], sep["last_day_walkers"]
        for rule in RULES:
            x = sep[rule]
            acc = share(sep["at_accept"], n) if rule == "raw" else ""
            lines.append(f"| {r['seed']} | {rule} | {sep['stranger_walks']} | {x['stranger_max']:.3f} | "
                         f"{share(x['named'], n)} | {share(x['named_last_day'], last)} | {acc} |")
    return "\n".join(lines)


def walkby_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a replay of walk-by days over several seeds (score_norm.py, resolution_match.py)."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--seeds", default="0,1", help="walk-by seeds (comma-separated; one process each)")
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--strangers", type=int, default=120)
    p.add_argument("--datasets")
    p.add_argument("--no-results", action="store_true", help="do not update benchmarks/RESULTS.md")
    return p


def fused_accept() -> float:
    """The calibrated accept threshold of the fused embedder."""
    from edge_agent.recognition.recognizer import DecisionThresholds
    from edge_agent.recognition.thresholds import load_thresholds

    return DecisionThresholds.from_calibration(load_thresholds(embedder="fusion")).accept


def main(argv: list[str] | None = None) -> int:
    args = walkby_parser(__doc__).parse_args(argv)
    accept = fused_accept()
    seeds = [int(s) for s in args.seeds.split(",")]
    with ProcessPoolExecutor(max_workers=len(seeds)) as pool:
        results = list(pool.map(track_rows, seeds, [args.days] * len(seeds), [args.strangers] * len(seeds),
                                [args.datasets] * len(seeds)))
    for r in results:
        r["separation"] = separation(r["rows"], accept)
    command = command_line("score_norm.py", argv)
    text = markdown(results, accept, command)
    if not args.no_results:
        update_section("score_norm", "Cohort score normalisation on the walk-by: does it separate the missed "
                       "students from strangers? (benchmarks/score_norm.py)", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
