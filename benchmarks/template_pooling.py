"""Would scoring a student against the mean of their templates (template pooling) name more students at
the same false-accept rate? Real East-Asian faces only (a measured candidate for issue 17, not adopted).

    .venv/bin/python benchmarks/template_pooling.py [--draws 5] [--datasets DIR] [--cache DIR] [--json]

A gallery holds two or more photos per student. A probe's score for a student is the best of the student's
templates (`max`, edge_agent/recognition/gallery.py). With pooling it would be the better of that and the
cosine to the student's pooled template: the L2-normalised mean of their templates, a less noisy estimate of
the person than any one photo (the "media pooling" of template-based protocols such as IJB). Pooling also
raises impostor scores, so the question is empirical; this benchmark answers it on the sets the thresholds
were calibrated on (edge_agent/recognition/thresholds*.toml):

- ea-nuaa-webcam-15: templates of 2 photos of one session, probes from the person's other sessions (the
  cross-session protocol of the calibration); impostors: every probe of the other people;
- ea-lfw-asian-subset and ea-kpop-idols-15: templates of 2 random photos, probes = the person's other photos.
Each identity with >= 3 usable photos gets `--draws` random templates. For every embedder (mfn, sface and the
fused pair) and both rules: the false-accept rate of a probe against another person's template set at the
calibrated accept threshold (the per-student FAR that roster-first matching multiplies by the roster size),
and the genuine accept rate (TAR) at that threshold; plus TAR at equal FAR (pooled rule at the threshold
where its FAR equals the max rule's FAR at accept), the fair comparison of the two rules.
Embeddings come from benchmarks/face_cache.py (production detection, alignment, flip).
Result (RESULTS.md, bench:template_pooling): at the calibrated thresholds pooling about doubles the false-accept
rate; at equal FAR it gains only on the K-pop set and nothing on LFW-Asian or NUAA, so the gallery does not pool.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_sets import ROOT, datasets_dir, ea_lfw_mask, kpop_images, lfw_images, nuaa_images  # noqa: E402
from face_cache import FaceCache, embeddings  # noqa: E402
from results_section import update_section  # noqa: E402

from edge_agent.recognition.thresholds import load_thresholds  # noqa: E402
from edge_agent.vision.embedder import normalise  # noqa: E402
from edge_agent.vision.fusion import fuse_embeddings  # noqa: E402

EMBEDDERS = {"mfn": "mobilefacenet", "sface": "sface", "fusion": "fusion"}


def template_sets(labels: np.ndarray, usable: np.ndarray, rng: np.random.Generator, draws: int,
                  sessions: np.ndarray | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(identity, template rows (2,), probe rows) per draw: 2 photos of one session, probes of other sessions
    when `sessions` is given, else 2 random photos and the rest as probes."""
    out = []
    for ident in sorted(set(labels[usable].tolist())):
        rows = np.flatnonzero((labels == ident) & usable)
        for _ in range(draws):
            if sessions is None:
                if len(rows) < 3:
                    break
                pick = rng.choice(rows, size=2, replace=False)
                probes = np.setdiff1d(rows, pick)
            else:
                ses = sorted(set(sessions[rows].tolist()))
                if len(ses) < 2:
                    break
                s = ses[int(rng.integers(len(ses)))]
                own = rows[sessions[rows] == s]
                if len(own) < 2:
                    continue
                pick = rng.choice(own, size=2, replace=False)
                probes = rows[sessions[rows] != s]
            out.append((ident, pick, probes))
    return out


def score_rules(emb: np.ndarray, labels: np.ndarray, usable: np.ndarray,
                sets: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{rule: (genuine scores, impostor scores)} for rule max (best template) and pooled (max of that and the
    mean template)."""
    probes_all = np.flatnonzero(usable)
    P = emb[probes_all]
    gen = {"max": [], "pooled": []}
    imp = {"max": [], "pooled": []}
    for ident, pick, probes in sets:
        T = emb[pick]
        pooled = normalise(T.mean(axis=0, keepdims=True))[0]
        s_max = (P @ T.T).max(axis=1)
        s_pool = np.maximum(s_max, P @ pooled)
        own = np.isin(probes_all, probes)
        other = labels[probes_all] != ident
        gen["max"].append(s_max[own])
        gen["pooled"].append(s_pool[own])
        imp["max"].append(s_max[other])
        imp["pooled"].append(s_pool[other])
    return {r: (np.concatenate(gen[r]), np.concatenate(imp[r])) for r in gen}


def compare(scores: dict, accept: float) -> dict:
    g_max, i_max = scores["max"]
    g_pool, i_pool = scores["pooled"]
    far_max = float((i_max >= accept).mean())
    # the pooled rule's threshold at the max rule's FAR at accept (equal-FAR comparison): the lowest threshold with
    # at most k impostor scores at or above it, i.e. just above the (k+1)-th highest
    k = int(np.floor(far_max * len(i_pool)))
    thr_eq = float(np.nextafter(np.sort(i_pool)[::-1][k], np.inf)) if k < len(i_pool) else -np.inf
    if k == 0:  # the max rule had no false accept in the sample: never compare below the calibrated threshold
        thr_eq = max(thr_eq, accept)
    return {"impostor_scores": int(len(i_max)), "genuine_scores": int(len(g_max)), "accept": accept,
            "far_max": far_max, "far_pooled": float((i_pool >= accept).mean()),
            "tar_max": float((g_max >= accept).mean()), "tar_pooled": float((g_pool >= accept).mean()),
            "pooled_threshold_at_equal_far": thr_eq,
            "tar_pooled_at_equal_far": float((g_pool >= thr_eq).mean()),
            "top_impostor_max": float(i_max.max()), "top_impostor_pooled": float(i_pool.max())}


def run(args) -> dict:
    ds = datasets_dir(args.datasets)
    if not ds.is_dir():
        raise SystemExit(f"data sets not found at {ds} (set SHARED_DIR or --datasets)")
    lfw_paths, lfw_labels = lfw_images(ds)
    ea = ea_lfw_mask(ds, lfw_labels)
    ea_paths, ea_labels = [p for p, m in zip(lfw_paths, ea, strict=True) if m], lfw_labels[ea]
    nuaa_paths, nuaa_labels, nuaa_sessions = nuaa_images(ds)
    kpop_paths, kpop_labels = kpop_images(ds)
    sources = {"ea-nuaa-webcam-15": ("nuaa", nuaa_paths, nuaa_labels, nuaa_sessions),
               "ea-lfw-asian-subset": ("ea-lfw", ea_paths, ea_labels, None),
               "ea-kpop-idols-15": ("kpop", kpop_paths, kpop_labels, None)}
    per_model = {}
    for name in ("mobilefacenet", "sface"):
        cache = FaceCache(Path(args.cache), embedder_name=name)
        per_model[name] = {key: cache.get(key, paths) for key, paths, _, _ in sources.values()}
    out: dict = {"draws": args.draws, "sets": {}}
    for choice, name in EMBEDDERS.items():
        if args.embedders and choice not in args.embedders.split(","):
            continue
        cal = load_thresholds(embedder=name)
        for set_name, (key, _paths, labels, sessions) in sources.items():
            if name == "fusion":
                emb = fuse_embeddings(embeddings(per_model["mobilefacenet"][key], True),
                                      embeddings(per_model["sface"][key], True), cal.fusion_weight)
            else:
                emb = embeddings(per_model[name][key], True)
            usable = per_model["mobilefacenet"][key]["found"].astype(bool)
            rng = np.random.default_rng(args.seed)
            sets = template_sets(labels, usable, rng, args.draws, sessions)
            res = compare(score_rules(emb, labels, usable, sets), cal.accept)
            res["templates"] = len(sets)
            out["sets"].setdefault(choice, {})[set_name] = res
            print(f"{choice:6} {set_name:20} FAR@accept max {res['far_max']:.2e} pooled {res['far_pooled']:.2e} | "
                  f"TAR max {res['tar_max']:.3f} pooled {res['tar_pooled']:.3f} at equal FAR "
                  f"{res['tar_pooled_at_equal_far']:.3f}", file=sys.stderr, flush=True)
    return out


def markdown(r: dict, command: str) -> str:
    lines = [f"Command: `{command}`  ",
             f"Machine: {platform.machine()}, Python {platform.python_version()}. Templates of 2 photos per person, "
             f"{r['draws']} random draws per identity with >= 3 usable photos (NUAA: 2 photos of one session, probes "
             "from the other sessions). FAR: share of (probe, another person's template set) scores at or above the "
             "embedder's calibrated accept threshold; TAR: share of genuine probes at or above it. `max`: best "
             "template (production); `pooled`: best of that and the L2-normalised mean template (not adopted). "
             "Equal FAR: TAR of the pooled rule at the threshold where its FAR equals the max rule's FAR at accept.",
             "", "| embedder | set | templates | impostor scores | accept | FAR max | FAR pooled | TAR max | "
             "TAR pooled | TAR pooled at equal FAR | top impostor max / pooled |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for choice, sets in r["sets"].items():
        for name, x in sets.items():
            lines.append(f"| {choice} | {name} | {x['templates']} | {x['impostor_scores']:,} | {x['accept']:.3f} | "
                         f"{x['far_max']:.1e} | {x['far_pooled']:.1e} | {100 * x['tar_max']:.1f} % | "
                         f"{100 * x['tar_pooled']:.1f} % | {100 * x['tar_pooled_at_equal_far']:.1f} % | "
                         f"{x['top_impostor_max']:.3f} / {x['top_impostor_pooled']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--embedders", help="comma-separated subset of mfn,sface,fusion")
    p.add_argument("--datasets")
    p.add_argument("--cache", default=str(ROOT / "var" / "bench-cache"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-results", action="store_true")
    args = p.parse_args(argv)
    result = run(args)
    command = "python benchmarks/template_pooling.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("--json", "--no-results"))
    text = markdown(result, command.strip())
    if not args.no_results:
        update_section("template_pooling", "Template pooling: false accepts and genuine accepts on East-Asian sets "
                       "(benchmarks/template_pooling.py)", text)
    print(json.dumps(result) if args.json else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
