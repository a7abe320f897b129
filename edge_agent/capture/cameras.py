"""Frame sources for the service: USB index, RTSP/HTTP URL or video file, one reader thread per camera.

Each camera keeps only its newest frame (a slow pipeline drops frames instead of falling behind), reconnects
with exponential backoff after a failure or a dropped stream, and reports FPS, last-frame age and errors.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from edge_agent.capture.sources import open_capture
from edge_agent.config import CameraConfig

log = logging.getLogger(__name__)


@dataclass
class CameraHealth:
    name: str
    role: str
    room: str | None
    state: str                     # connecting | streaming | backoff | ended | stopped
    fps: float
    frames: int
    last_frame_age_s: float | None
    errors: int
    reconnects: int
    last_error: str | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    ts: float                      # wall-clock seconds (time.time()) when read
    seq: int                       # per-camera frame counter


class Camera:
    def __init__(self, cfg: CameraConfig, *, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 realtime: bool = True):
        self.cfg = cfg
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.realtime = realtime
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._frame: Frame | None = None
        self._thread: threading.Thread | None = None
        self._state = "connecting"
        self._frames = 0
        self._errors = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._times: deque[float] = deque(maxlen=30)   # read times of the last frames, for the FPS figure
        self._last_mono: float | None = None
        self.ever_connected = False

    @property
    def name(self) -> str:
        return self.cfg.name

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> Camera:
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._state = "stopped"

    def latest(self, after_seq: int = 0) -> Frame | None:
        """The newest frame if it is newer than `after_seq`."""
        with self._lock:
            frame = self._frame
        return frame if frame is not None and frame.seq > after_seq else None

    def health(self) -> CameraHealth:
        with self._lock:
            age = None if self._last_mono is None else round(time.monotonic() - self._last_mono, 3)
            span = self._times[-1] - self._times[0] if len(self._times) > 1 else 0.0
            fps = (len(self._times) - 1) / span if span > 0 else 0.0
            return CameraHealth(self.name, self.cfg.role, self.cfg.room, self._state, round(fps, 2),
                                self._frames, age, self._errors, self._reconnects, self._last_error)

    # ---- reader thread -----------------------------------------------------------------------------------------
    def _source(self):
        src = self.cfg.source
        if isinstance(src, int) or (isinstance(src, str) and src.isdigit()):
            return int(src)
        return src

    def _is_file(self) -> bool:
        src = self._source()
        return isinstance(src, str) and "://" not in src

    def _open(self) -> cv2.VideoCapture:
        return open_capture(self._source())

    def _error(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = message
        log.warning("camera %s: %s", self.name, message)

    def _run(self) -> None:
        delay = self.backoff_initial
        while not self._stop.is_set():
            self._state = "connecting"
            try:
                cap = self._open()
            except Exception as exc:        # OpenCV raises cv2.error as well as our SourceError
                self._error(str(exc))
                self._backoff(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            if self.ever_connected:
                with self._lock:
                    self._reconnects += 1
            self.ever_connected = True
            self._state = "streaming"
            got_any = self._read_loop(cap)
            cap.release()
            if self._stop.is_set():
                break
            if self._is_file() and got_any and not self.cfg.loop:
                self._state = "ended"      # a video file played to its end: nothing to reconnect to
                return
            if got_any:
                delay = self.backoff_initial
            self._error("stream dropped" if not self._is_file() else "video file ended or unreadable")
            self._backoff(delay)
            delay = min(delay * 2, self.backoff_max)
        self._state = "stopped"

    def _read_loop(self, cap: cv2.VideoCapture) -> bool:
        got_any = False
        file_fps = cap.get(cv2.CAP_PROP_FPS) if self._is_file() else 0.0
        period = 1.0 / file_fps if self.realtime and file_fps and 1 <= file_fps <= 120 else 0.0
        next_at = time.monotonic()
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok or image is None or image.size == 0:
                return got_any
            got_any = True
            now = time.monotonic()
            with self._lock:
                self._times.append(now)
                self._last_mono = now
                self._frames += 1
                self._frame = Frame(image, time.time(), self._frames)
            if period:
                next_at += period
                pause = next_at - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    next_at = time.monotonic()
        return got_any

    def _backoff(self, delay: float) -> None:
        self._state = "backoff"
        self._stop.wait(delay * (0.8 + 0.4 * random.random()))
