"""Would resolution-matched enrolment templates name the walk-by's missed students without naming strangers?

    .venv/bin/python benchmarks/resolution_match.py [--seeds 0,1] [--days 5] [--strangers 120] [--sizes 56,40]

The walk-by's faces are 36-85 px wide; the enrolment photos are ID-style crops of 100 px or more. Matching a
low-resolution probe against high-resolution templates crosses a resolution gap that published embedders were
not trained for. A common remedy in low-resolution face recognition is to match at the probe's resolution: add,
for every enrolment crop, a copy down-scaled to the camera's face size and scaled back to the embedder's 112 px
input, so that a blurred camera face meets a template blurred the same way. Its risk is the one learned camera
frames showed (RESULTS, walk-by reading): a degraded template is also closer to every other degraded face, so
strangers' scores rise too.

This benchmark renders the walk-by's days (same people, same videos, seeds as walkby.py), embeds EVERY tracked
face (fused MobileFaceNet + SFace, no learning), forms each track's set embedding (`SetDecision.mean_embedding`)
and scores it against the class roster with four galleries: the enrolment crops only (production), plus copies
at each of `--sizes` px, plus both. Per walker and day the best track counts, per stranger walk the
highest-scoring track (as in score_norm.py). Reported per gallery: the highest score of any stranger's track,
the walker-days named above it (threshold chosen with hindsight: an upper bound), and, at the calibrated fused
accept threshold (calibrated on galleries of enrolment crops only), walker-days named and stranger walks named.
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


def degrade(crop: np.ndarray, size: int) -> np.ndarray:
    """An aligned 112 px crop as the camera would see it at `size` px: area down-scaling, bilinear back up."""
    import cv2

    small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, crop.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def galleries(analyzer, fused, enrolled: list, sizes: list[int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{gallery name: (normalised templates, student ids)} for the enrolment crops and their degraded copies."""
    from walkby import enrolment_crops

    from edge_agent.vision.embedder import normalise

    crops, ids = enrolment_crops(analyzer, enrolled)
    ids = np.array(ids)
    base = normalise(fused.embed(np.stack(crops)))
    extra = {s: normalise(fused.embed(np.stack([degrade(c, s) for c in crops]))) for s in sizes}
    out = {"enrolment crops": (base, ids)}
    for s in sizes:
        out[f"+ {s} px copies"] = (np.vstack([base, extra[s]]), np.concatenate([ids, ids]))
    if len(sizes) > 1:
        out["+ " + " and ".join(str(s) for s in sizes) + " px"] = (
            np.vstack([base, *extra.values()]), np.concatenate([ids] * (len(sizes) + 1)))
    return out


def track_rows(seed: int, days: int, strangers: int, datasets: str | None, sizes: list[int]) -> dict:
    """Render one seed's days; per track and gallery: whether the roster's top student is right, and its score."""
    from quality_floor import every_track
    from walkby import day_walkers, setup
    from walkby_scene import CropSource

    from edge_agent.recognition.thresholds import load_thresholds
    from edge_agent.recognition.track_decision import SetDecision
    from edge_agent.vision.embedder_choice import build_embedder

    args = argparse.Namespace(roster=40, absent=2, strangers=strangers, seed=seed, datasets=datasets)
    store, analyzer, roster_people, enrolled, stranger_pool = setup(args)
    fused, _ = build_embedder("fusion", store, threads=1, weight=load_thresholds(embedder="fusion").fusion_weight)
    gals = galleries(analyzer, fused, enrolled, sizes)
    roster = {p.pid for p in roster_people}
    setd = SetDecision()
    crops = CropSource(analyzer.detector)
    rng = np.random.default_rng(seed)
    on_roster = {name: np.isin(ids, sorted(roster)) for name, (_, ids) in gals.items()}
    rows: dict[str, list[dict]] = {name: [] for name in gals}
    for day in range(1, days + 1):
        walkers = day_walkers(rng, day, roster_people, stranger_pool, crops, args)
        tracks = every_track(analyzer.detector, fused, walkers, seed)
        for k, person, frames in tracks:
            if person.kind == "other":
                continue
            mean = setd.mean_embedding(frames)
            for name, (templates, ids) in gals.items():
                scores = templates @ mean
                best = int(np.argmax(np.where(on_roster[name], scores, -np.inf)))
                rows[name].append({"day": day, "walker": k, "kind": person.kind,
                                   "right": ids[best] == person.pid, "raw": float(scores[best])})
        print(f"seed {seed} day {day}: {len(tracks)} tracks", file=sys.stderr, flush=True)
    return {"seed": seed, "rows": rows}


def markdown(results: list[dict], accept: float, command: str) -> str:
    from score_norm import share

    lines = [f"Command: `{command}`  ",
             f"Machine: {platform.machine()}, Python {platform.python_version()}. Fused MobileFaceNet + SFace, "
             "every tracked face embedded, no learning; each track decided on its set embedding against the class "
             "roster, with a gallery of the enrolment crops only (production) or with down-scaled copies of them "
             "added. 'With no stranger': walker-days whose track ranks the right student first above the highest "
             "score of any stranger's track (threshold chosen with hindsight: an upper bound). 'At accept': the "
             f"calibrated fused accept threshold {accept:.3f} (calibrated for galleries of enrolment photos).", "",
             "| seed | gallery | stranger walks | highest stranger score | walker-days named with no stranger | "
             "last day | walker-days named at accept | strangers named at accept |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name, sep in r["figures"].items():
            n, last, raw = sep["walker_days"], sep["last_day_walkers"], sep["raw"]
            lines.append(f"| {r['seed']} | {name} | {sep['stranger_walks']} | {raw['stranger_max']:.3f} | "
                         f"{share(raw['named'], n)} | {share(raw['named_last_day'], last)} | "
                         f"{share(sep['at_accept'], n)} | {sep['strangers_at_accept']}/{sep['stranger_walks']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from score_norm import fused_accept, separation, walkby_parser

    p = walkby_parser(__doc__)
    p.add_argument("--sizes", default="56,40", help="face sizes (px) of the degraded template copies")
    args = p.parse_args(argv)
    accept = fused_accept()
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    n = len(seeds)
    with ProcessPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(track_rows, seeds, [args.days] * n, [args.strangers] * n, [args.datasets] * n,
                                [sizes] * n))
    for r in results:
        r["figures"] = {name: separation(rows, accept, rules=("raw",)) for name, rows in r["rows"].items()}
    text = markdown(results, accept, command_line("resolution_match.py", argv))
    if not args.no_results:
        update_section("resolution_match", "Resolution-matched enrolment templates on the walk-by: more students "
                       "named, or strangers too? (benchmarks/resolution_match.py)", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
