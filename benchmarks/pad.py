"""Presentation-attack detection: APCER / BPCER (ISO/IEC 30107-3) of the PAD model, subject-disjoint, plus
synthetic screen / print recaptures, live walkers and the time per track.

    .venv/bin/python benchmarks/pad.py [--datasets DIR] [--cache DIR] [--no-results]

1. NUAA (ea-nuaa-webcam-15 live vs ea-nuaa-imposter-15 print attacks): 5-fold cross-validation over people
   (the folds of benchmarks/train_pad.py: nobody is in both the training and the test part), per frame
   and per track (up to 3 frames of one recording, mean score). ROC points go to benchmarks/pad_roc.csv.
2. Recaptures (benchmarks/pad_recapture.py): live NUAA frames shown on a synthetic screen or print and
   re-photographed, each scored by the fold model that never saw that person; LFW East-Asian photos
   likewise, scored by the shipped model (no LFW person is in its training data).
3. Live faces outside NUAA at the shipped threshold: ea-lfw-asian-subset photos and the walkers of
   face-videos/timesler__facenet-pytorch/video.mp4 (per face and per IoU-linked track).
4. Time: `score_track` on 3 frames (features of each face + one ONNX run), one thread.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_sets import ROOT, datasets_dir, ea_lfw_mask, lfw_images  # noqa: E402
from pad_data import DetectionCache, features_of, nuaa_set  # noqa: E402
from pad_recapture import recapture  # noqa: E402
from results_section import update_section  # noqa: E402
from train_pad import fit, out_of_fold, predict, subject_folds, track_chunks  # noqa: E402

from edge_agent.vision.image_io import load_image  # noqa: E402
from edge_agent.vision.pad import PresentationAttackDetector, aggregate_track, calibrate_threshold  # noqa: E402
from edge_agent.vision.pad_features import N_FEATURES, N_RING_FEATURES, PadInputError, pad_features  # noqa: E402
from edge_agent.vision.types import Detection  # noqa: E402

ROC_CSV = Path(__file__).resolve().parent / "pad_roc.csv"
TARGET = "BPCER <= 1 % with APCER <= 10 % (NUAA print, subject-disjoint)"


def auc(live: np.ndarray, attack: np.ndarray) -> float:
    """P(attack score > live score), ties counted half (Mann-Whitney)."""
    both = np.concatenate([live, attack])
    ranks = np.argsort(np.argsort(both, kind="stable"), kind="stable").astype(np.float64) + 1
    for v in np.unique(both):  # average ranks of ties
        tie = both == v
        ranks[tie] = ranks[tie].mean()
    return float((ranks[len(live):].sum() - len(attack) * (len(attack) + 1) / 2) / (len(live) * len(attack)))


def rates(live: np.ndarray, attack: np.ndarray, thr: float) -> tuple[float, float]:
    """(APCER, BPCER) at `thr`: attacks scored below it pass as live; live faces at or above it are flagged."""
    return float((attack < thr).mean()) if len(attack) else float("nan"), \
        float((live >= thr).mean()) if len(live) else float("nan")


def operating(live: np.ndarray, attack: np.ndarray, shipped: float) -> dict:
    t1 = calibrate_threshold(live, 0.01)
    att = np.sort(attack)
    t10 = float(att[int(np.floor(0.10 * len(att)))])  # APCER <= 10 %: at most 10 % of attacks below it
    return {"auc": auc(live, attack), "live": len(live), "attack": len(attack),
            "apcer_at_bpcer1": rates(live, attack, t1)[0], "bpcer_at_apcer10": rates(live, attack, t10)[1],
            "shipped": rates(live, attack, shipped)}


def roc_points(live: np.ndarray, attack: np.ndarray) -> list[tuple[float, float, float]]:
    out = []
    for thr in np.unique(np.concatenate([live, attack, [0.0, 1.0 + 1e-9]])):
        apcer, bpcer = rates(live, attack, float(thr))
        out.append((float(thr), apcer, bpcer))
    return out


def nuaa(cache: DetectionCache, ds: Path, shipped: float) -> dict:
    s = nuaa_set(ds)
    dets = cache.get("pad-train", s.paths)
    x, ok = features_of(s.paths, dets)
    folds = subject_folds(s.subject)
    out = {"s": s, "dets": dets, "x": x, "ok": ok, "folds": folds, "no_face": int((~ok).sum())}
    for name, cols in (("all", slice(None)), ("face_only", slice(0, N_FEATURES - N_RING_FEATURES))):
        oof = out_of_fold(x[:, cols], s, ok, folds)
        chunks = track_chunks(s.track, ok)
        t_score = np.array([oof[c].mean() for c in chunks])
        t_label = np.array([s.label[c[0]] for c in chunks])
        t_sess = np.array([s.session[c[0]] for c in chunks])
        t_subj = np.array([s.subject[c[0]] for c in chunks])
        f_live, f_att = oof[ok & (s.label == 0)], oof[ok & (s.label == 1)]
        res = {"frame": operating(f_live, f_att, shipped),
               "track": operating(t_score[t_label == 0], t_score[t_label == 1], shipped)}
        if name == "all":
            out["oof"] = oof
            res["roc_frame"], res["roc_track"] = roc_points(f_live, f_att), roc_points(
                t_score[t_label == 0], t_score[t_label == 1])
            res["by_session"] = {int(v): rates(t_score[(t_label == 0) & (t_sess == v)],
                                               t_score[(t_label == 1) & (t_sess == v)], shipped)
                                 for v in np.unique(t_sess)}
            per = [rates(t_score[(t_label == 0) & (t_subj == p)], t_score[(t_label == 1) & (t_subj == p)], shipped)
                   for p in np.unique(t_subj)]
            res["worst_subject"] = (float(np.nanmax([a for a, _ in per])), float(np.nanmax([b for _, b in per])))
        out[name] = res
    return out


def score_frame(model_fn, cache: DetectionCache, img: np.ndarray) -> float | None:
    det = cache.detect(img)
    if det is None:
        return None
    try:
        return float(model_fn(pad_features(img, det)[None])[0])
    except PadInputError:
        return None


def recaptures(cache: DetectionCache, n: dict, pad: PresentationAttackDetector, ds: Path) -> dict:
    s, x, ok, folds = n["s"], n["x"], n["ok"], n["folds"]
    fold_models = {f: fit(x[ok & (folds != f)], s.label[ok & (folds != f)]) for f in np.unique(folds)}
    live_idx = np.flatnonzero(ok & (s.label == 0))
    scores: dict[str, list] = {"nuaa screen": [], "nuaa print": [], "lfw screen": [], "lfw print": []}
    missed: dict[str, int] = dict.fromkeys(scores, 0)
    for k, i in enumerate(live_idx[::2]):
        kind = "screen" if k % 2 == 0 else "print"
        room = load_image(s.paths[live_idx[(k * 7 + 97) % len(live_idx)]])
        frame = recapture(load_image(s.paths[i]), room, kind, seed=k, face_box=n["dets"]["box"][i])
        sc = score_frame(lambda f, m=fold_models[folds[i]]: predict(*m, f), cache, frame)
        scores[f"nuaa {kind}"].append(sc) if sc is not None else missed.__setitem__(f"nuaa {kind}",
                                                                                      missed[f"nuaa {kind}"] + 1)
    lfw_paths, labels = lfw_images(ds)
    lfw = [p for p, m in zip(lfw_paths, ea_lfw_mask(ds, labels), strict=True) if m]
    live_lfw = []
    for k, path in enumerate(lfw):
        img = load_image(path)
        det = cache.detect(img)
        if det is None:
            continue
        try:
            live_lfw.append(pad.score(img, det))
        except PadInputError:
            continue
        if k % 2 == 0:
            kind = "screen" if k % 4 == 0 else "print"
            room = load_image(s.paths[live_idx[(k * 7 + 13) % len(live_idx)]])
            sc = score_frame(pad.score_features, cache, recapture(img, room, kind, seed=10_000 + k, face_box=det.box))
            scores[f"lfw {kind}"].append(sc) if sc is not None else missed.__setitem__(f"lfw {kind}",
                                                                                         missed[f"lfw {kind}"] + 1)
    return {"scores": {k: np.array(v) for k, v in scores.items()}, "missed": missed, "lfw_live": np.array(live_lfw)}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def walkers(cache: DetectionCache, pad: PresentationAttackDetector, ds: Path) -> dict:
    video = ds / "face-videos" / "timesler__facenet-pytorch" / "video.mp4"
    cap = cv2.VideoCapture(str(video))
    tracks: list[dict] = []  # {"box", "last", "scores": [(face_px, score)]}
    faces, frame_no = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        found = cache.analyzer.detect(frame)
        for det in cache.analyzer.refine(frame, found):
            try:
                sc = pad.score(frame, det)
            except PadInputError:
                continue
            faces.append(sc)
            best = max((t for t in tracks if frame_no - t["last"] <= 2), key=lambda t: iou(t["box"], det.box),
                       default=None)
            if best is None or iou(best["box"], det.box) < 0.3:
                best = {"scores": []}
                tracks.append(best)
            best["box"], best["last"] = det.box, frame_no
            best["scores"].append((min(det.width, det.height), sc))
        frame_no += 1
    cap.release()
    decisions = [aggregate_track([v for _, v in sorted(t["scores"], reverse=True)[:3]], pad.threshold)
                 for t in tracks if len(t["scores"]) >= 3]
    return {"frames": frame_no, "faces": np.array(faces), "tracks": len(decisions),
            "tracks_flagged": sum(d.attack for d in decisions)}


def timing(n: dict, pad: PresentationAttackDetector, tracks: int = 60) -> dict:
    s, ok = n["s"], n["ok"]
    chunks = [c for c in track_chunks(s.track, ok) if len(c) == 3][:: max(1, len(s.paths) // (3 * tracks))][:tracks]
    ms, cpu = [], []
    for c in chunks:
        frames = [(load_image(s.paths[i]), Detection(box=n["dets"]["box"][i], landmarks=n["dets"]["landmarks"][i],
                                                     score=1.0)) for i in c]
        t0, c0 = time.perf_counter(), time.process_time()
        pad.score_track(frames)
        ms.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.process_time() - c0))
    return {"tracks": len(ms), "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "cpu_ms": float(np.median(cpu))}


def pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f} %"


def write_roc(n: dict, path: Path = ROC_CSV) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["level", "threshold", "apcer", "bpcer"])
        for level in ("frame", "track"):
            for thr, apcer, bpcer in n["all"][f"roc_{level}"]:
                w.writerow([level, f"{thr:.6f}", f"{apcer:.5f}", f"{bpcer:.5f}"])


def markdown(n: dict, rc: dict, wk: dict, tm: dict, shipped: float, command: str) -> str:
    load = os.getloadavg()
    lines = [f"Command: `{command}`  ",
             f"Machine: {platform.machine()}, Python {platform.python_version()}, one thread; load average "
             f"{load[0]:.1f} / {load[1]:.1f} (a shared 2-core machine: timings are pessimistic). Target: {TARGET}.",
             "", "ISO/IEC 30107-3: APCER = attacks accepted as live, BPCER = live faces flagged. Model "
             f"`pad_nuaa_lr` (models/manifest.toml), shipped threshold {shipped:.4f} (track score = mean attack "
             "probability of up to 3 frames; chosen by benchmarks/train_pad.py at track BPCER <= 1 % on the same "
             "folds). NUAA live vs print, 5-fold subject-disjoint (folds over people, seed 0), "
             f"{n['no_face']} photos without a detected face left out:", "",
             "| features | level | live / attack | AUC | APCER @ BPCER <= 1 % | BPCER @ APCER <= 10 % |"
             " APCER / BPCER at the shipped threshold |", "|---|---|---|---|---|---|---|"]
    for name, label in (("all", "all (face + frame around it)"), ("face_only", "face only (ablation)")):
        for level in ("frame", "track"):
            r = n[name][level]
            lines.append(f"| {label} | {level} | {r['live']} / {r['attack']} | {r['auc']:.4f} | "
                         f"{pct(r['apcer_at_bpcer1'])} | {pct(r['bpcer_at_apcer10'])} | "
                         f"{pct(r['shipped'][0])} / {pct(r['shipped'][1])} |")
    by = n["all"]["by_session"]
    lines += ["", "Per recording session (tracks, shipped threshold; NUAA's own test split is session 3): " +
              "; ".join(f"session {k}: APCER {pct(a)}, BPCER {pct(b)}" for k, (a, b) in by.items()) +
              f". Worst single person: APCER {pct(n['all']['worst_subject'][0])}, BPCER "
              f"{pct(n['all']['worst_subject'][1])}. ROC points (frame and track): `benchmarks/pad_roc.csv`.", ""]
    lines += ["Synthetic recaptures (benchmarks/pad_recapture.py: portrait crop -> phone screen with sub-pixel grid, "
              "bezel, glare / print with ink gamut, paper margin -> perspective in a blurred room -> webcam blur, "
              "white balance, noise, JPEG), per frame, at the shipped threshold:", "",
              "| source | attack species | frames scored (no face found) | APCER | median attack score |",
              "|---|---|---|---|---|"]
    for key, v in rc["scores"].items():
        src, kind = key.split()
        who = "NUAA live, fold model that never saw the person" if src == "nuaa" else "EA-LFW, shipped model"
        med = f"{np.median(v):.3f}" if len(v) else "n/a"
        apcer = float((v < shipped).mean()) if len(v) else float("nan")
        lines.append(f"| {who} | {kind} | {len(v)} ({rc['missed'][key]}) | {pct(apcer)} | {med} |")
    lw, fc = rc["lfw_live"], wk["faces"]
    lines += ["", "Live faces outside NUAA flagged at the shipped threshold (a BPCER on other cameras; each flagged "
              "track would go to the teacher's review instead of being accepted, so the walkers' automatic recall "
              "drops by this fraction):", "",
              "| live set | faces (tracks) | flagged faces | flagged tracks |", "|---|---|---|---|",
              f"| ea-lfw-asian-subset (news photos, 250x250) | {len(lw)} | {pct(float((lw >= shipped).mean()))} | - |",
              f"| face-videos walkers (video.mp4, {wk['frames']} frames 1920x1080) | {len(fc)} ({wk['tracks']}) | "
              f"{pct(float((fc >= shipped).mean()) if len(fc) else float('nan'))} | "
              f"{wk['tracks_flagged']} of {wk['tracks']} |", "",
              f"Time: `score_track` on 3 frames (features + ONNX), {tm['tracks']} NUAA tracks: median "
              f"{tm['median_ms']:.1f} ms per track (wall clock), p95 {tm['p95_ms']:.1f} ms, median CPU time "
              f"{tm['cpu_ms']:.1f} ms (what an uncontended core would take); once per track, not per frame.", "",
              "Reading: the target is met on the camera and attack the model was trained for (NUAA webcam, printed "
              "photos, people it never saw). It does not transfer: live faces of other cameras (the walkers' video, "
              "LFW's news photos) score like attacks, and synthetic screen / print recaptures pass far more often "
              "than NUAA's prints. Hand-crafted texture cues learnt from one camera describe that camera as much as "
              "the attack. So the camera must not reject on this score until the model is retrained on the school "
              "camera's own live and recaptured faces (benchmarks/train_pad.py --live --attack) or its threshold is "
              "calibrated on that camera's confirmed live tracks (`calibrate_threshold`); until then PAD runs in "
              "report-only mode and live walkers keep their recall unchanged."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", help="data-set folder (default ../shared/datasets)")
    p.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-cache", help="detection cache folder")
    p.add_argument("--no-results", action="store_true", help="do not update RESULTS.md and pad_roc.csv")
    args = p.parse_args(argv)
    ds = datasets_dir(args.datasets)
    if not ds.is_dir():
        raise SystemExit(f"data sets not found at {ds} (set SHARED_DIR or --datasets)")
    cv2.setNumThreads(1)  # one thread, as on the school's box where the pipeline owns the other core
    cache = DetectionCache(args.cache)
    pad = PresentationAttackDetector.from_store(cache.store)
    n = nuaa(cache, ds, pad.threshold)
    print("nuaa done", file=sys.stderr)
    rc = recaptures(cache, n, pad, ds)
    print("recaptures done", file=sys.stderr)
    wk = walkers(cache, pad, ds)
    tm = timing(n, pad)
    text = markdown(n, rc, wk, tm, pad.threshold, "python benchmarks/pad.py")
    if not args.no_results:
        write_roc(n)
        update_section("pad", "Presentation-attack detection (benchmarks/pad.py)", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
