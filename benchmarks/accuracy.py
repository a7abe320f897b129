"""Accuracy of the vision stack on real faces: LFW 10-fold, East-Asian sets, LFW open-set identification.

    .venv/bin/python benchmarks/accuracy.py [--json] [--calibrate] [--datasets DIR] [--cache DIR]
                                            [--embedder mobilefacenet|sface|fusion] [--lfw-subset]

Every image goes through the production code (load_image, YuNet, norm_crop, MobileFaceNet); embeddings
are cached under var/bench-cache/<model sha>/ so reruns take seconds. A pair whose photo has no detected
face scores 0 (it counts as "different"), never a made-up embedding. `--calibrate` also writes
edge_agent/recognition/thresholds.toml (thresholds.<embedder>.toml for another embedder) from the East-Asian sets.
`--embedder fusion` scores the fused pair MobileFaceNet + SFace (edge_agent/vision/fusion.py), its weight
taken from the two models' own review thresholds and impostor medians on the same East-Asian sets.
`--lfw-subset` uses every East-Asian LFW image plus a fixed third of the other identities (a loaded
machine's way to compare embedders). The section between the bench:accuracy markers of
benchmarks/RESULTS.md (bench:accuracy_<embedder> for another embedder or a subset) is replaced.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_sets import (  # noqa: E402
    ROOT,
    all_pairs,
    datasets_dir,
    ea_lfw_mask,
    kpop_images,
    lfw_images,
    lfw_pairs,
    lfw_subset,
    nuaa_images,
)
from face_cache import FaceCache, embeddings  # noqa: E402
from openset import evaluate  # noqa: E402
from results_section import update_section  # noqa: E402
from threshold_calibration import calibrate, write_thresholds  # noqa: E402
from verification_metrics import verification_report  # noqa: E402

from edge_agent.recognition.thresholds import DEFAULT_EMBEDDER, load_thresholds, thresholds_path  # noqa: E402
from edge_agent.vision.fusion import FUSION_NAME, fuse_embeddings, fusion_sha256, fusion_weight  # noqa: E402

DLIB = {"lfw": {"accuracy_mean": 0.9855, "accuracy_std": 0.0031, "tar_at_far_0.001": 0.935},
        "ea-lfw-asian-subset": {"tar_at_far_0.001": 0.705}}
TARGETS = "LFW >= 99.4 %, TAR@FAR1e-3 >= 98.5 %; EA-LFW TAR@FAR1e-3 >= 98 %"


def scores_of(emb: np.ndarray, pairs) -> np.ndarray:
    return np.einsum("ij,ij->i", emb[pairs.a], emb[pairs.b])


def run(args) -> dict:
    ds = datasets_dir(args.datasets)
    if not ds.is_dir():
        raise SystemExit(f"data sets not found at {ds} (set SHARED_DIR or --datasets)")
    lfw_paths, lfw_labels = lfw_images(ds)
    if args.lfw_subset:
        lfw_paths, lfw_labels = lfw_subset(ds, lfw_paths, lfw_labels)
    nuaa_paths, nuaa_labels, nuaa_sessions = nuaa_images(ds)
    kpop_paths, kpop_labels = kpop_images(ds)
    names = ("mobilefacenet", "sface") if args.embedder == FUSION_NAME else (args.embedder,)
    per_model = {}
    for name in names:
        cache = FaceCache(Path(args.cache), embedder_name=name)
        per_model[name] = (cache, {"lfw": cache.get("lfw", lfw_paths), "nuaa": cache.get("nuaa", nuaa_paths),
                                   "kpop": cache.get("kpop", kpop_paths)})
    cache, data = per_model[names[0]]
    models = dict(cache.models)
    out: dict = {"models": models, "detection": {}, "verification": {}}
    for name, d in data.items():
        out["detection"][name] = {"images": int(len(d["found"])), "face_found": int(d["found"].sum()),
                                  "found_after_padding": int(d["padded_retry"].sum()),
                                  "images_per_s": float(len(d["found"]) / max(float(d["seconds"]), 1e-9))}
    ea_mask = ea_lfw_mask(ds, lfw_labels)
    sets = {
        "lfw": ("lfw", lfw_pairs(ds, lfw_paths)),
        "ea-lfw-asian-subset": ("lfw", all_pairs("ea-lfw-asian-subset", lfw_labels, ea_mask,
                                                   "all pairs of the 540 images")),
        "ea-nuaa-webcam-15": ("nuaa", all_pairs(
            "ea-nuaa-webcam-15", nuaa_labels, np.ones(len(nuaa_paths), bool),
            "genuine = different sessions only; impostor = all pairs of different people",
            genuine_ok=lambda i, j: nuaa_sessions[i] != nuaa_sessions[j])),
        "ea-kpop-idols-15": ("kpop", all_pairs("ea-kpop-idols-15", kpop_labels,
                                                np.ones(len(kpop_paths), bool), "all pairs")),
    }
    emb_of = _single if len(names) == 1 else _fused(per_model, sets, ea_mask, out)
    if len(names) > 1:
        models.update(embedder=FUSION_NAME, embedder_sha256=fusion_sha256(
            per_model[names[0]][0].models["embedder_sha256"], per_model[names[1]][0].models["embedder_sha256"],
            out["fusion"]["weight"]))
    for flip in (True, False):
        key = "flip" if flip else "no_flip"
        for name, (source, pairs) in sets.items():
            emb = emb_of(data, source, flip)
            rep = verification_report(scores_of(emb, pairs), pairs.same, pairs.folds, pairs.balanced)
            rep["pairs_without_face"] = int((~(data[source]["found"][pairs.a] & data[source]["found"][pairs.b])).sum())
            rep["note"] = pairs.note
            out["verification"].setdefault(name, {})[key] = rep
    emb = emb_of(data, "lfw", True)
    cal = calibrate(out["verification"], emb, lfw_labels, data["lfw"]["found"], evaluate)
    out["calibration"] = cal
    target = thresholds_path(models["embedder"])
    if args.calibrate:
        write_thresholds(cal, models, target, fusion_weight=out.get("fusion", {}).get("weight"),
                         sets_note=" (LFW subset: --lfw-subset)" if args.lfw_subset else "")
        out["thresholds_written"] = str(target.name)
    th = load_thresholds(target)
    out["thresholds_file"] = target.name
    out["thresholds_used"] = {"accept": th.accept, "review": th.review, "margin": th.margin, "strict": th.strict}
    out["openset_lfw"] = {
        "roster_accept": evaluate(emb, lfw_labels, data["lfw"]["found"], th.accept, th.margin, review=th.review),
        "whole_school_strict": evaluate(emb, lfw_labels, data["lfw"]["found"], th.strict, th.margin,
                                        sizes=(300, 1500), review=th.review),
    }
    return out


def _single(data: dict, source: str, flip: bool) -> np.ndarray:
    return embeddings(data[source], flip)


def _fused(per_model: dict, sets: dict, ea_mask: np.ndarray, out: dict):
    """emb_of() for the fused pair; its weight from each model's East-Asian review threshold (pair FAR
    1e-3, the highest over the sets, as calibrated) and impostor median (edge_agent/vision/fusion.py)."""
    from verification_metrics import threshold_at_far

    (first, d1), (second, d2) = per_model.values()
    anchors = []
    for data in (d1, d2):
        thr, imp = [], []
        for name in ("ea-lfw-asian-subset", "ea-nuaa-webcam-15"):
            source, pairs = sets[name]
            s = scores_of(embeddings(data[source], True), pairs)
            thr.append(threshold_at_far(s[~pairs.same], 1e-3))
            imp.append(s[~pairs.same])
        anchors.append((max(thr), float(np.median(np.concatenate(imp)))))
    w = fusion_weight(anchors[0], anchors[1])
    out["fusion"] = {"weight": w, "anchors": {first.models["embedder"]: anchors[0],
                                              second.models["embedder"]: anchors[1]}}

    def emb_of(_data: dict, source: str, flip: bool) -> np.ndarray:
        return fuse_embeddings(embeddings(d1[source], flip), embeddings(d2[source], flip), w)
    return emb_of


def pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def markdown(r: dict, command: str) -> str:
    lines = [f"Command: `{command}`  ", f"Machine: {platform.machine()}, {platform.python_version()}; "
             f"models: {r['models']['detector']} + {r['models']['embedder']} "
             f"(sha256 {r['models']['embedder_sha256'][:12]}…). Targets: {TARGETS}.", ""]
    lines += ["| set | flip | accuracy (10-fold) | AUC | TAR@FAR1e-2 | TAR@FAR1e-3 | TAR@FAR1e-4 | thr@1e-3 |"
              " genuine / impostor pairs |", "|---|---|---|---|---|---|---|---|---|"]
    for name, by_flip in r["verification"].items():
        for key, v in by_flip.items():
            lines.append(f"| {name} | {'yes' if key == 'flip' else 'no'} | {pct(v['accuracy_mean'])} ± "
                         f"{pct(v['accuracy_std'])} | {v['auc']:.5f} | {pct(v.get('tar_at_far_0.01'))} | "
                         f"{pct(v.get('tar_at_far_0.001'))} | {pct(v.get('tar_at_far_0.0001'))} | "
                         f"{v.get('threshold_at_far_0.001', float('nan')):.3f} | "
                         f"{v['pairs_genuine']} / {v['pairs_impostor']} |")
    lines += ["", "dlib / face_recognition anchor (same protocol, this machine): LFW 98.55 % ± 0.31, "
              "TAR@FAR1e-3 93.5 %; EA-LFW TAR@FAR1e-3 70.5 %.", ""]
    det = r["detection"]
    lines.append("Detection: " + "; ".join(f"{k} {v['face_found']}/{v['images']} images with a face "
                                             f"({v['found_after_padding']} only after padding), "
                                             f"{v['images_per_s']:.0f} images/s" for k, v in det.items()) + ".")
    th = r["thresholds_used"]
    lines += ["", f"Open-set identification on LFW (gallery = 1 photo per enrolled identity; strangers = "
              f"never enrolled; 5-frame voting simulated with 5 photos of one person, median score; `set`: the same "
              f"5-photo tracks decided by their mean embedding, the median vote as a check). "
              f"Thresholds from edge_agent/recognition/{r.get('thresholds_file', 'thresholds.toml')}: "
              f"accept {th['accept']:.3f}, margin {th['margin']:.3f}, "
              f"strict {th['strict']:.3f}.", ""]
    o = r["openset_lfw"]["roster_accept"]
    lines.append(f"Full gallery ({o['enrollable_identities']} identities): FNIR at FPIR 1e-2 = "
                 f"{pct(o['full_gallery_fnir_at_fpir_0.01'])} (threshold "
                 f"{o['full_gallery_threshold_at_fpir_0.01']:.3f}), at FPIR 1e-3 = "
                 f"{pct(o['full_gallery_fnir_at_fpir_0.001'])} "
                 f"(threshold {o['full_gallery_threshold_at_fpir_0.001']:.3f}).")
    lines += ["", "| threshold | gallery | mode | strangers accepted (FPIR) | wrong student | missed (FNIR) |"
              " stranger / mated probes |", "|---|---|---|---|---|---|---|"]
    for label, key in (("accept", "roster_accept"), ("strict", "whole_school_strict")):
        for row in r["openset_lfw"][key]["by_gallery_size"]:
            lines.append(f"| {label} | {row['gallery']} | {row['mode']} | {pct(row['fpir'])} | "
                         f"{pct(row['wrong_student'], 3)} | {pct(row['fnir'])} | {row['strangers']} / {row['mated']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--calibrate", action="store_true", help="write edge_agent/recognition/thresholds.toml")
    p.add_argument("--datasets", help="data-set folder (default ../shared/datasets)")
    p.add_argument("--cache", default=str(ROOT / "var" / "bench-cache"), help="embedding cache folder")
    p.add_argument("--no-results", action="store_true", help="do not update benchmarks/RESULTS.md")
    p.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="mobilefacenet (default), sface or fusion")
    p.add_argument("--lfw-subset", action="store_true", help="East-Asian LFW + a third of the other identities")
    args = p.parse_args(argv)
    result = run(args)
    command = ("python benchmarks/accuracy.py" + (" --calibrate" if args.calibrate else "")
               + ("" if args.embedder == DEFAULT_EMBEDDER else f" --embedder {args.embedder}")
               + (" --lfw-subset" if args.lfw_subset else ""))
    text = markdown(result, command)
    if "fusion" in result:
        text += (f"\n\nFusion weight w = {result['fusion']['weight']:.4f} (score = w * s_mobilefacenet + (1 - w) * "
                 "s_sface); anchors (review threshold, impostor median): "
                 + ", ".join(f"{k} ({a[0]:.3f}, {a[1]:.3f})" for k, a in result["fusion"]["anchors"].items()) + ".")
    if not args.no_results:
        key = "accuracy" if args.embedder == DEFAULT_EMBEDDER and not args.lfw_subset else \
            f"accuracy_{args.embedder}" + ("_lfw_subset" if args.lfw_subset else "")
        update_section(key, f"Accuracy (benchmarks/accuracy.py, {args.embedder}"
                       + (", LFW subset)" if args.lfw_subset else ")"), text)
    print(json.dumps(result, default=float) if args.json else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
