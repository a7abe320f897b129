"""Camera sources against real streams: a video file, a missing file that appears, and an MJPEG network camera
that goes dark and comes back (the camera layer must reconnect with backoff and report its health)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from kiosk_browser import free_port
from mjpeg_server import MjpegCamera

from edge_agent.capture.cameras import Camera
from edge_agent.config import CameraConfig


@pytest.fixture(scope="module")
def photo_frames(model_store):
    """Frames made of the real sample photos (resized to one frame size)."""
    paths = model_store.samples("face_recognition")
    return [cv2.resize(cv2.imread(str(p)), (320, 240)) for p in sorted(paths.values())]


def write_video(path, frames, fps=20, repeat=10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    assert writer.isOpened()
    for _ in range(repeat):
        for f in frames:
            writer.write(f)
    writer.release()
    return path


def wait_for(predicate, timeout=15.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def test_video_file_plays_with_fps_and_frame_age(tmp_path, photo_frames):
    video = write_video(tmp_path / "lop.avi", photo_frames, fps=20, repeat=8)
    cam = Camera(CameraConfig(name="file", source=str(video), room="A101")).start()
    try:
        assert wait_for(lambda: cam.latest() is not None)
        first = cam.latest()
        assert first.image.shape == (240, 320, 3) and first.image.std() > 10, "real picture, not a blank frame"
        assert wait_for(lambda: cam.health().state == "ended", timeout=20)
        h = cam.health()
        assert h.frames == 8 * len(photo_frames) and h.errors == 0
        assert 5 < h.fps < 80, f"played at about the file's pace (20 fps), got {h.fps}"
        assert h.last_frame_age_s is not None and h.last_frame_age_s >= 0
    finally:
        cam.stop()


def test_missing_file_is_retried_with_backoff_until_it_appears(tmp_path, photo_frames):
    target = tmp_path / "later.avi"
    cam = Camera(CameraConfig(name="late", source=str(target), room="A101", loop=True),
                 backoff_initial=0.05, backoff_max=0.4).start()
    try:
        assert wait_for(lambda: cam.health().errors >= 3)
        h = cam.health()
        assert h.state in ("backoff", "connecting") and "không tìm thấy tệp video" in h.last_error and h.frames == 0
        write_video(tmp_path / "tmp.avi", photo_frames, repeat=2).rename(target)
        assert wait_for(lambda: cam.health().frames > 0)
        assert cam.health().state == "streaming"
    finally:
        cam.stop()
    assert cam.health().state == "stopped"


def test_network_camera_that_drops_is_reconnected(photo_frames):
    port = free_port()
    server = MjpegCamera(photo_frames, port, fps=25).start()
    cam = Camera(CameraConfig(name="rtsp-like", source=server.url, room="A101"),
                 backoff_initial=0.1, backoff_max=0.5).start()
    try:
        assert wait_for(lambda: cam.health().frames >= 10)
        assert cam.health().state == "streaming" and cam.health().reconnects == 0
        server.stop()                                   # the camera goes dark
        assert wait_for(lambda: cam.health().errors >= 2)
        dark = cam.health()
        assert dark.state in ("backoff", "connecting")
        assert dark.last_frame_age_s > 0.1
        frames_before = dark.frames
        time.sleep(0.3)
        assert cam.health().frames == frames_before, "no frames while the camera is down"
        server = MjpegCamera(photo_frames, port, fps=25).start()   # back on the same address
        assert wait_for(lambda: cam.health().frames >= frames_before + 10)
        back = cam.health()
        assert back.state == "streaming" and back.reconnects >= 1
        assert back.last_frame_age_s < 1.0
        latest = cam.latest()
        assert any(np.abs(latest.image.astype(int) - f.astype(int)).mean() < 15 for f in photo_frames), \
            "the frames are the camera's pictures (JPEG round trip)"
    finally:
        cam.stop()
        server.stop()


def test_bad_usb_index_reports_an_error_not_a_crash():
    cam = Camera(CameraConfig(name="usb9", source=9, room="A101"), backoff_initial=0.05, backoff_max=0.1).start()
    try:
        assert wait_for(lambda: cam.health().errors >= 2)
        assert "không mở được nguồn video: 9" in cam.health().last_error
    finally:
        cam.stop()
