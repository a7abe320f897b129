"""Which live frames are worth embedding? Single-frame evidence per face-quality band, on the walk-by's video.

    .venv/bin/python benchmarks/quality_floor.py [--days 1,2,3] [--strangers 120]

`VotePolicy.min_quality` (edge_agent/recognition/recognizer.py) is the quality score below which a tracked
face is never embedded. It only saves CPU when the frames it skips carry no identity; when they do, a small
face that stays below it for the whole walk is never named (nor even sent to review). This benchmark renders
the days of benchmarks/walkby.py (same people, same videos), embeds EVERY face the tracker follows (fused
MobileFaceNet + SFace, so each embedder is measured on the same frames) and reports per quality band:
- enrolled walkers' frames: how many, the median score against the walker's own templates, the share where
  another student of the school scores higher (rank-1 error), the share at or above the accept threshold;
- strangers' frames: how many, the highest score against the class roster, how many reach review / accept.
A floor above a band throws that band's frames away: worth it where they name nobody, a loss where the right
student's frames still reach the accept threshold and strangers' frames do not.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_section import command_line, update_section  # noqa: E402
from walkby import count_truth, day_walkers, enrol, setup  # noqa: E402
from walkby_scene import FPS, CropSource, WalkVideo  # noqa: E402

from edge_agent.recognition.pipeline import RecognitionPipeline  # noqa: E402
from edge_agent.recognition.recognizer import DecisionThresholds, TrackVoter, VotePolicy  # noqa: E402
from edge_agent.recognition.thresholds import load_thresholds  # noqa: E402
from edge_agent.vision.embedder import normalise  # noqa: E402
from edge_agent.vision.embedder_choice import build_embedder, model_name  # noqa: E402

BANDS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)


class EveryFrame(TrackVoter):
    """Embeds every tracked face and decides nothing: keeps (quality, embedding) per track."""

    def __init__(self) -> None:
        super().__init__(recognizer=None)
        self.frames: dict[int, list[tuple[float, np.ndarray]]] = defaultdict(list)

    def wants_embedding(self, track_id: int, frame: int, quality: float) -> bool:
        return True

    def add(self, track_id, frame, ts, quality, embedding):
        self.frames[track_id].append((float(quality), np.asarray(embedding, np.float32).reshape(-1)))
        return None

    def finish(self, track_id):
        return None


def every_track(detector, embedder, walkers: list, seed: int) -> list[tuple[int, object, list]]:
    """Render one day's walk, embed every tracked face: (walker index, person, [(quality, embedding)]) per track
    matched to a walker (tracks matched to no pasted face are left out)."""
    video = WalkVideo(walkers, seed=seed)
    voter = EveryFrame()
    pipe = RecognitionPipeline(detector, embedder, voter)
    votes: dict[int, Counter] = defaultdict(Counter)
    for i in range(video.n_frames):
        frame = video.frame(i)
        pipe.process_detections(frame, i / FPS, detector.detect(frame))
        count_truth(votes, pipe.tracker.tracks, video.truth(i))
    pipe.finish()
    out = []
    for tid, frames in voter.frames.items():
        if tid in votes:
            k = votes[tid].most_common(1)[0][0]
            out.append((k, walkers[k].person, frames))
    return out


def band_of(q: float) -> float:
    return max(b for b in BANDS if q >= b)


def run(args) -> dict:
    store, analyzer, roster_people, enrolled, stranger_pool = setup(args)
    fused, _ = build_embedder("fusion", store, threads=1, weight=load_thresholds(embedder="fusion").fusion_weight)
    roster = {p.pid for p in roster_people}
    templates, ids = enrol(analyzer, {"fusion": (fused, None)}, enrolled)["fusion"]
    ids = np.array(ids)
    in_roster = np.isin(ids, sorted(roster))
    views = {"mfn": 0, "sface": 1, "fusion": None}
    gallery = {c: normalise(templates if i is None else fused.split(templates)[i]) for c, i in views.items()}
    thresholds = {c: DecisionThresholds.from_calibration(load_thresholds(embedder=model_name(c))) for c in views}
    stats = {c: defaultdict(lambda: defaultdict(list)) for c in views}
    crops = CropSource(analyzer.detector)
    rng = np.random.default_rng(args.seed)
    wanted = {int(d) for d in args.days.split(",")}
    for day in range(1, max(wanted) + 1):
        walkers = day_walkers(rng, day, roster_people, stranger_pool, crops, args)  # every day draws, in order
        if day not in wanted:
            continue
        tracks = every_track(analyzer.detector, fused, walkers, args.seed)
        for _, person, frames in tracks:
            if person.kind == "other":
                continue
            bands = [band_of(f[0]) for f in frames]
            emb = np.stack([f[1] for f in frames])
            own_cols = ids == person.pid
            for c, i in views.items():
                s = normalise(emb if i is None else fused.split(emb)[i]) @ gallery[c].T  # (frames, templates)
                for k, band in enumerate(bands):
                    b = stats[c][band]
                    if person.kind == "stranger":
                        b["stranger"].append(float(s[k, in_roster].max()))
                    else:
                        own = float(s[k, own_cols].max())
                        b["genuine"].append(own)
                        b["rank1_wrong"].append(float(s[k, ~own_cols].max()) > own)
        print(f"day {day}: {len(tracks)} tracks, {sum(len(f) for _, _, f in tracks)} frames embedded",
              file=sys.stderr, flush=True)
    return {"days": sorted(wanted), "stats": stats, "thresholds": thresholds}


def markdown(r: dict, command: str) -> str:
    lines = [f"Command: `{command}`  ",
             f"Machine: {platform.machine()}, Python {platform.python_version()}. Walk-by days {r['days']} "
             "(benchmarks/walkby.py's videos), every tracked face embedded. Genuine: frames of enrolled walkers "
             "against their own templates (rank-1 error: another student of the school scores higher); stranger: "
             "frames of strangers, best score against the class roster. The embedding floor "
             f"(`VotePolicy.min_quality`) is {VotePolicy().min_quality} (the table does not depend on it: every face "
             "is embedded).", "",
             "| embedder | quality band | genuine frames | genuine median | rank-1 error | genuine >= accept |"
             " stranger frames | stranger max | strangers >= review / accept |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c, bands in r["stats"].items():
        th = r["thresholds"][c]
        for k, lo in enumerate(BANDS):
            b = bands.get(lo)
            if not b:
                continue
            hi = BANDS[k + 1] if k + 1 < len(BANDS) else 1.0
            g, st = np.array(b["genuine"]), np.array(b["stranger"])
            gs = (f"{len(g)} | {np.median(g):.3f} | {100 * np.mean(b['rank1_wrong']):.1f} % | "
                  f"{100 * np.mean(g >= th.accept):.0f} %") if len(g) else "0 | | |"
            ss = (f"{len(st)} | {st.max():.3f} | {int(np.sum(st >= th.review))} / {int(np.sum(st >= th.accept))}"
                  if len(st) else "0 | |")
            lines.append(f"| {c} | {lo:.2f}-{hi:.2f} | {gs} | {ss} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", default="1,2,3", help="walk-by days to render (comma-separated)")
    p.add_argument("--roster", type=int, default=40)
    p.add_argument("--absent", type=int, default=2)
    p.add_argument("--strangers", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--datasets")
    p.add_argument("--no-results", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    result = run(args)
    command = command_line("quality_floor.py", argv)
    text = markdown(result, command)
    if not args.no_results:
        update_section("quality_floor", "Which live frames carry identity: single-frame evidence per quality band "
                       "(benchmarks/quality_floor.py)", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
