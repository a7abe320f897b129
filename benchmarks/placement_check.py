"""Does the camera-placement check tell the two walk-by scenes apart?

    .venv/bin/python benchmarks/placement_check.py [--seeds 0,1] [--days 5] [--scenes 36,50 60,74]

The agent counts every face track, when it ends, by the widest face it reached (`PipelineStats.face_px`,
metric `edge_face_track_width_pixels`), and the alert `EdgeCameraFacesTooSmall` fires for a camera when most of
its tracks never grew wider than 60 px (hardware/README.md section 3) over 6 hours with at least 30 tracks;
`edge-agent recognize` prints the same figures. This benchmark replays the walk-by videos of
benchmarks/walkby.py (same people, photos, paths and draws: `--strangers 120`, as the RESULTS sections were
run) through the production detector and tracker, counts the tracks as the pipeline does, and says whether the
alert's rule would fire on each day's walk-by (one day's tracks standing for the 6-hour window). The walk-by
sections of RESULTS.md say how many students each scene names; this one says whether the check flags the
scene that names fewer. No embedding is computed: the tracker sees only detections.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_section import command_line, update_section  # noqa: E402
from walkby import day_walkers, parse_face_px, setup  # noqa: E402
from walkby_scene import FACE_PX, FPS, CropSource, WalkVideo  # noqa: E402

from edge_agent.recognition.pipeline import MOUNT_MIN_FACE_PX, FaceSizeTally, face_sizes  # noqa: E402

ALERT_SHARE = 0.5  # hardware/monitoring/prometheus/alerts.yml, EdgeCameraFacesTooSmall: more than half ...
ALERT_MIN_TRACKS = 30  # ... of at least this many tracks


def day_tally(analyzer, video: WalkVideo) -> tuple[FaceSizeTally, list[float]]:
    """The agent's count of one day's video (`edge-agent faces` runs the same function on a clip)."""
    widths: list[float] = []
    frames = ((video.frame(i), i / FPS) for i in range(video.n_frames))
    tally = face_sizes(frames, analyzer.detector, on_track=lambda t: widths.append(t.max_face_px))
    return tally, widths


def run(args) -> list[dict]:
    rows = []
    for seed in args.seeds:
        for scene in args.scenes:
            ns = argparse.Namespace(datasets=args.datasets, roster=40, seed=seed, absent=2, strangers=120,
                                    face_px=scene)
            _store, analyzer, roster_people, _enrolled, stranger_pool = setup(ns)
            crops = CropSource(analyzer.detector)
            rng = np.random.default_rng(seed)
            for day in range(1, args.days + 1):
                walkers = day_walkers(rng, day, roster_people, stranger_pool, crops, ns)
                tally, widths = day_tally(analyzer, WalkVideo(walkers, seed=seed))
                small = tally.at_most(MOUNT_MIN_FACE_PX)
                q = statistics.quantiles(widths, n=10) if len(widths) > 1 else [widths[0]] * 9
                row = {"seed": seed, "scene": list(scene), "day": day, "walkers": len(walkers),
                       "tracks": tally.tracks, "median": tally.median(), "p10": q[0], "p90": q[-1],
                       "small": small, "alert": tally.tracks >= ALERT_MIN_TRACKS and small > ALERT_SHARE * tally.tracks}
                rows.append(row)
                print(f"seed {seed} scene {scene[0]:g}-{scene[1]:g} day {day}: {row['tracks']} tracks, widest face "
                      f"median {row['median']:.1f} px (p10 {row['p10']:.1f}, p90 {row['p90']:.1f}), "
                      f"<= 60 px {small} ({100 * small / max(tally.tracks, 1):.1f} %), alert {row['alert']}",
                      file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict], command: str) -> str:
    lines = [f"Command: `{command}`  ",
             f"Machine: {platform.machine()}, Python {platform.python_version()}. The walk-by videos of "
             "benchmarks/walkby.py (640x480, 15 FPS; 40 on the roster, 2 absent a day, 120 stranger walks a day, as "
             "its RESULTS sections were run) through the production detector and tracker; every track counted when "
             "it ends by its widest face, as the agent counts it (`edge_face_track_width_pixels`). The alert "
             f"EdgeCameraFacesTooSmall fires when more than {ALERT_SHARE:.0%} of at least {ALERT_MIN_TRACKS} tracks "
             f"never grew wider than {MOUNT_MIN_FACE_PX:.0f} px (one day's walk-by standing for its 6-hour window). "
             f"Scene = the face size (paste size, px) at which walkers enter; the default is "
             f"{FACE_PX[0]:g}-{FACE_PX[1]:g}.", "",
             "| seed | scene (px) | day | walkers | tracks | widest face: median (p10-p90) | tracks <= 60 px | "
             "alert |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['scene'][0]:g}-{r['scene'][1]:g} | {r['day']} | {r['walkers']} | "
                     f"{r['tracks']} | {r['median']:.1f} ({r['p10']:.1f}-{r['p90']:.1f}) | {r['small']} "
                     f"({100 * r['small'] / max(r['tracks'], 1):.1f} %) | {'fires' if r['alert'] else 'quiet'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--scenes", nargs="+", type=parse_face_px, default=[FACE_PX, (60.0, 74.0)], metavar="LO,HI")
    p.add_argument("--datasets")
    p.add_argument("--no-results", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    text = markdown(run(args), command_line("placement_check.py", argv))
    if not args.no_results:
        update_section("placement_check", "Camera-placement check on the walk-by scenes "
                       "(benchmarks/placement_check.py)", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
