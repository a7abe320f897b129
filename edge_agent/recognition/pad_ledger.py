"""What presentation-attack detection said on each camera, for the health file, the log and calibration.

A camera's `pad` setting decides what a verdict does: "report" only counts and logs it (the decision stands);
"enforce" sends a suspected attack to the teacher's review queue (`PadLedger.note` returns True). The latest
track scores of each camera are kept (bounded) so that a school can set the camera's own threshold from the
scores of tracks its teachers confirmed live (`edge_agent.vision.pad.calibrate_threshold`).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
RECENT = 50  # latest track scores per camera shown in the health file


@dataclass
class CameraPad:
    mode: str  # off | report | enforce | unavailable (the model could not be loaded)
    threshold: float | None
    counts: Counter[str] = field(default_factory=Counter)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    seconds: float = 0.0

    def as_dict(self) -> dict:
        scored = self.counts["scored"] + self.counts["not_measured"]
        return {"mode": self.mode, "threshold": self.threshold, "scored": self.counts["scored"],
                "suspected": self.counts["suspected"], "not_measured": self.counts["not_measured"],
                "recent_scores": list(self.recent),
                "ms_per_track": round(1000 * self.seconds / scored, 1) if scored else None}


class PadLedger:
    def __init__(self) -> None:
        self.cameras: dict[str, CameraPad] = {}
        self.note_text = ""

    def add_camera(self, name: str, mode: str, threshold: float | None) -> None:
        self.cameras[name] = CameraPad(mode, threshold)

    def note(self, camera: str, track_id: int, pad) -> bool:
        """Count and log PAD's verdict (`recognition.pipeline.TrackPad`) on one decided track of `camera`;
        True when the camera enforces PAD and the track is a suspected attack."""
        cam = self.cameras[camera]
        cam.seconds += pad.seconds
        if pad.decision is None:
            cam.counts["not_measured"] += 1
            log.info("camera %s: track %s PAD not measured (%s)", camera, track_id, pad.note)
            return False
        d = pad.decision
        cam.counts["scored"] += 1
        cam.counts["suspected"] += int(d.attack)
        cam.recent.append(round(d.score, 4))
        enforce = cam.mode == "enforce" and d.attack
        log.info("camera %s: track %s PAD score %.3f (threshold %.3f, %d frames): %s", camera, track_id, d.score,
                 d.threshold, d.frames,
                 "suspected attack, sent to review" if enforce else "suspected, reported only" if d.attack else "live")
        return enforce

    def health(self) -> dict:
        return {"note": self.note_text, "cameras": {name: c.as_dict() for name, c in self.cameras.items()}}
