"""Accuracy of the vision stack on real faces: LFW 10-fold, East-Asian sets, LFW open-set identification.

    .venv/bin/python benchmarks/accuracy.py [--json] [--calibrate] [--datasets DIR] [--cache DIR]

Every image goes through the production code (load_image, YuNet, norm_crop, MobileFaceNet); embeddings
are cached under var/bench-cache/<model sha>/ so reruns take seconds. A pair whose photo has no detected
face scores 0 (it counts as "different"), never a made-up embedding. `--calibrate` also writes
edge_agent/recognition/thresholds.toml from the East-Asian sets. The section between the bench:accuracy markers of
benchmarks/RESULTS.md is replaced with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_sets import ROOT, all_pairs, datasets_dir, ea_lfw_mask, kpop_images, lfw_images, lfw_pairs, nuaa_images  # noqa: E402
from face_cache import FaceCache, embeddings  # noqa: E402
from openset import evaluate  # noqa: E402
from results_section import update_section  # noqa: E402
from threshold_calibration import calibrate, write_thresholds  # noqa: E402
from verification_metrics import verification_report  # noqa: E402

DLIB = {"lfw": {"accuracy_mean": 0.9855, "accuracy_std": 0.0031, "tar_at_far_0.001": 0.935},
        "ea-lfw-asian-subset": {"tar_at_far_0.001": 0.705}}
TARGETS = "LFW >= 99.4 %, TAR@FAR1e-3 >= 98.5 %; EA-LFW TAR@FAR1e-3 >= 98 %"


def scores_of(emb: np.ndarray, pairs) -> np.ndarray:
    return np.einsum("ij,ij->i", emb[pairs.a], emb[pairs.b])


def run(args) -> dict:
    ds = datasets_dir(args.datasets)
    if not ds.is_dir():
        raise SystemExit(f"data sets not found at {ds} (set SHARED_DIR or --datasets)")
    cache = FaceCache(Path(args.cache))
    lfw_paths, lfw_labels = lfw_images(ds)
    nuaa_paths, nuaa_labels, nuaa_sessions = nuaa_images(ds)
    kpop_paths, kpop_labels = kpop_images(ds)
    data = {"lfw": cache.get("lfw", lfw_paths), "nuaa": cache.get("nuaa", nuaa_paths),
            "kpop": cache.get("kpop", kpop_paths)}
    out: dict = {"models": cache.models, "detection": {}, "verification": {}}
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
    for flip in (True, False):
        key = "flip" if flip else "no_flip"
        for name, (source, pairs) in sets.items():
            emb = embeddings(data[source], flip)
            rep = verification_report(scores_of(emb, pairs), pairs.same, pairs.folds, pairs.balanced)
            rep["pairs_without_face"] = int((~(data[source]["found"][pairs.a] & data[source]["found"][pairs.b])).sum())
            rep["note"] = pairs.note
            out["verification"].setdefault(name, {})[key] = rep
    emb = embeddings(data["lfw"], True)
    cal = calibrate(out["verification"], emb, lfw_labels, data["lfw"]["found"], evaluate)
    out["calibration"] = cal
    if args.calibrate:
        write_thresholds(cal, cache.models)
        out["thresholds_written"] = True
    from edge_agent.recognition.thresholds import load_thresholds

    th = load_thresholds()
    out["thresholds_used"] = {"accept": th.accept, "review": th.review, "margin": th.margin, "strict": th.strict}
    out["openset_lfw"] = {
        "roster_accept": evaluate(emb, lfw_labels, data["lfw"]["found"], th.accept, th.margin),
        "whole_school_strict": evaluate(emb, lfw_labels, data["lfw"]["found"], th.strict, th.margin,
                                        sizes=(300, 1500)),
    }
    return out


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
              f"never enrolled; 5-frame voting simulated with 5 photos of one person, median score). "
              f"Thresholds from edge_agent/recognition/thresholds.toml: accept {th['accept']:.3f}, "
              f"margin {th['margin']:.3f}, strict {th['strict']:.3f}.", ""]
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
    args = p.parse_args(argv)
    result = run(args)
    command = "python benchmarks/accuracy.py" + (" --calibrate" if args.calibrate else "")
    text = markdown(result, command)
    if not args.no_results:
        update_section("accuracy", "Accuracy (benchmarks/accuracy.py)", text)
    print(json.dumps(result, default=float) if args.json else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
