"""Choose the recognition thresholds from the East-Asian sets and LFW open-set, and write them down.

East-Asian sets used: ea-lfw-asian-subset and ea-nuaa-webcam-15 (cross-session genuine pairs).
- accept (roster search): the highest East-Asian threshold at per-pair FAR 1e-4; with a roster of 50
  the chance that a stranger passes it is about 50 x 1e-4 = 0.5 % per frame, less with voting.
- review (unknown below): the highest East-Asian threshold at per-pair FAR 1e-3.
- strict (whole school, ~1,500 people): LFW open-set threshold at single-frame FPIR 1e-2 with the full
  gallery (track voting lowers it further; FPIR 1e-3 + shift measured ~90 % FNIR: useless),
  shifted up by how much higher East-Asian impostors score than LFW's at pair FAR 1e-4 (LFW side: 2 M
  random impostor pairs of the whole set).
- margin: the smallest margin (grid) whose wrong-student rate at roster sizes 50 and 300 is <= 0.1 %,
  but at least MARGIN_FLOOR (a guard for look-alikes such as siblings, which LFW does not hold).
- duplicate (enrolment duplicate check against the whole school): the strict threshold.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

# ea-kpop-idols-15 is reported but not calibrated on: 160 px tight crops of look-alike, heavily made-up
# celebrities with unverified labels; its impostor scores sit far above every other set's (median 0.34).
EA_SETS = ("ea-lfw-asian-subset", "ea-nuaa-webcam-15")
MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10)
MARGIN_FLOOR = 0.03
TOML = Path(__file__).resolve().parent.parent / "edge_agent" / "recognition" / "thresholds.toml"


def _max_over(verif: dict, key: str) -> tuple[float, str]:
    vals = {n: verif[n]["flip"][key] for n in EA_SETS if key in verif[n]["flip"]}
    name = max(vals, key=vals.get)
    return round(vals[name], 3), name


def calibrate(verif: dict, emb, labels, found, evaluate) -> dict:
    accept, accept_set = _max_over(verif, "threshold_at_far_0.0001")
    review, review_set = _max_over(verif, "threshold_at_far_0.001")
    lfw_far4 = _random_impostor_threshold(emb, labels, found, 1e-4)
    shift = max(0.0, accept - lfw_far4)
    full = evaluate(emb, labels, found, accept, 0.0, sizes=())
    strict = round(max(accept, full["full_gallery_threshold_at_fpir_0.01"] + shift), 3)
    margin, trials = MARGINS[-1], {}
    for m in MARGINS:
        rows = evaluate(emb, labels, found, accept, m, sizes=(50, 300), repeats={50: 10, 300: 3})["by_gallery_size"]
        worst = max(r["wrong_student"] for r in rows if r["mode"] == "single")
        trials[m] = worst
        if worst <= 0.001:
            margin = m
            break
    margin = max(margin, MARGIN_FLOOR)
    return {
        "accept": {"value": accept, "far": 1e-4, "gallery_size": 50,
                   "basis": f"highest East-Asian threshold at pair FAR 1e-4 ({accept_set})"},
        "review": {"value": review, "far": 1e-3, "gallery_size": 50,
                   "basis": f"highest East-Asian threshold at pair FAR 1e-3 ({review_set}); below it: unknown"},
        "margin": {"value": margin, "gallery_size": 50,
                   "basis": "smallest margin with single-frame wrong-student <= 0.1 % at galleries 50 and 300 "
                            f"(LFW open-set), floor {MARGIN_FLOOR}; trials "
                            + ", ".join(f"{k:.2f}: {100 * v:.3f} %" for k, v in trials.items())},
        "strict": {"value": strict, "far": 1e-2, "gallery_size": 1500,
                   "basis": f"LFW open-set threshold at FPIR 1e-2 with {full['enrollable_identities']} enrolled "
                            f"({full['full_gallery_threshold_at_fpir_0.01']:.3f}) + East-Asian shift {shift:.3f} "
                            f"(accept {accept:.3f} - LFW random impostors at FAR 1e-4 {lfw_far4:.3f}); "
                            "far here is the stranger-identification rate, not a pair FAR"},
        "duplicate": {"value": strict, "far": 1e-2, "gallery_size": 1500,
                      "basis": "same as strict: a new enrolment photo is compared with the whole school"},
    }


def write_thresholds(cal: dict, models: dict, path: Path = TOML, fusion_weight: float | None = None,
                     sets_note: str = "") -> None:
    lines = ["# Calibrated cosine thresholds of recognition. Written by `python benchmarks/accuracy.py --calibrate`;",
             "# do not edit by hand without re-running it. Each threshold says the per-pair FAR (or, for",
             "# strict/duplicate, the stranger-identification rate) and the gallery size it assumes.", "",
             f'calibrated_on = "{dt.date.today().isoformat()}: ea-lfw-asian-subset, ea-nuaa-webcam-15 '
             f'(cross-session), ea-kpop-idols-15, LFW open-set{sets_note}"',
             f'embedder = "{models["embedder"]}"', f'embedder_sha256 = "{models["embedder_sha256"]}"']
    if fusion_weight is not None:
        lines.append(f"fusion_weight = {fusion_weight:.4f}")
    for name in ("accept", "review", "margin", "strict", "duplicate"):
        t = cal[name]
        lines += ["", f"[{name}]", f"value = {t['value']:.3f}"]
        if t.get("far") is not None:
            lines.append(f"far = {t['far']:g}")
        lines.append(f"gallery_size = {t['gallery_size']}")
        lines.append(f"basis = {_toml_str(t['basis'])}")
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _random_impostor_threshold(emb, labels, found, far: float, n: int = 2_000_000, seed: int = 0) -> float:
    """Threshold at `far` over random pairs of different LFW identities (both faces found)."""
    from verification_metrics import threshold_at_far

    idx = np.flatnonzero(found)
    rng = np.random.default_rng(seed)
    a, b = rng.choice(idx, n), rng.choice(idx, n)
    keep = labels[a] != labels[b]
    a, b = a[keep], b[keep]
    scores = np.concatenate([np.einsum("ij,ij->i", emb[a[k:k + 200_000]], emb[b[k:k + 200_000]])
                             for k in range(0, len(a), 200_000)])
    return threshold_at_far(scores, far)
