"""Frame sources: a video file, a local camera index or a network stream (RTSP/HTTP) via OpenCV.

`open_capture` is the one place a source spec becomes an open OpenCV capture; both readers use it:
`VideoSource` (here, for `edge-agent recognize`) yields every frame in order with (BGR frame, timestamp in
seconds): the file's own presentation time for a video file, seconds since opening for a live camera or
stream, no reconnection; `cameras.Camera` (for `edge-agent run`) reads in a thread, keeps the newest frame
and reconnects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np


class SourceError(RuntimeError):
    """A frame source that cannot be opened or read, with a message for people."""


def _is_url(spec: str) -> bool:
    return "://" in spec


def open_capture(source: str | int) -> cv2.VideoCapture:
    """An open capture of `source`: digits = camera index, `scheme://...` = network stream, anything else = a file."""
    spec = str(source)
    if spec.isdigit():
        cap = cv2.VideoCapture(int(spec))
    elif _is_url(spec):
        cap = cv2.VideoCapture(spec, cv2.CAP_FFMPEG)
    else:
        if not Path(spec).is_file():
            raise SourceError(f"không tìm thấy tệp video: {spec}")
        cap = cv2.VideoCapture(spec)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"không mở được nguồn video: {spec}")
    return cap


class VideoSource:
    """Frames of `spec`: digits = camera index, `scheme://...` = network stream, anything else = a file."""

    def __init__(self, spec: str, max_width: int | None = 640) -> None:
        self.spec = spec
        self.max_width = max_width
        self.live = spec.isdigit() or _is_url(spec)
        self._cap = open_capture(spec)

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if self.max_width and w > self.max_width:
            scale = self.max_width / w
            frame = cv2.resize(frame, (self.max_width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return frame

    def frames(self, max_frames: int | None = None) -> Iterator[tuple[np.ndarray, float]]:
        start = time.monotonic()
        n = 0
        try:
            while max_frames is None or n < max_frames:
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    if n == 0 and not self.live:
                        raise SourceError(f"không đọc được khung hình nào từ: {self.spec}")
                    return
                ts = time.monotonic() - start if self.live else self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                n += 1
                yield self._resize(frame), float(ts)
        finally:
            self._cap.release()
