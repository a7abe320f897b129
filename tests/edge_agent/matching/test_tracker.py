"""Tracker: one id per face across frames, on real video, real faces in motion and synthetic boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.demo.synthetic_stream import MovingFace, MovingFacesStream
from edge_agent.recognition.tracker import FaceTracker, TrackerConfig, TrackState, _iou_matrix
from edge_agent.vision.crop import face_crop
from edge_agent.vision.types import Detection

WALKING = "face-videos/timesler__facenet-pytorch/video.mp4"


@pytest.fixture(scope="module")
def detector(model_store):
    from edge_agent.vision.detector import YuNetDetector

    # a low threshold, so that the tracker's second (low-score) association has something to work on
    return YuNetDetector(model_store.path("yunet"), score_threshold=0.5, min_face_px=10)


def box_det(x1, y1, x2, y2, score=0.9) -> Detection:
    box = np.array([x1, y1, x2, y2], np.float32)
    cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
    lmk = np.array([[cx - w / 5, cy - w / 8], [cx + w / 5, cy - w / 8], [cx, cy],
                    [cx - w / 6, cy + w / 5], [cx + w / 6, cy + w / 5]], np.float32)
    return Detection(box=box, landmarks=lmk, score=score)


# ---- real video -------------------------------------------------------------------------------
@pytest.mark.datasets
def test_walking_clip_faces_keep_their_ids(datasets, detector):
    cap = cv2.VideoCapture(str(datasets / WALKING))
    assert cap.isOpened()
    tracker = FaceTracker()
    frames = 0
    life: dict[int, int] = {}
    checks = switches = 0
    prev: list[tuple[int, Detection]] = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frame = cv2.resize(frame[:, 240:1680], (640, 480))  # 4:3 centre crop, as a 640x480 camera
        update = tracker.update(detector.detect(frame))
        frames += 1
        for t in update.active:
            life[t.track_id] = life.get(t.track_id, 0) + 1
        clear = [(t.track_id, t.detection) for t in update.active
                 if t.detection.score >= 0.85 and t.detection.width >= 20]
        # a clearly visible face that overlaps a clearly visible face of the previous frame is the same
        # person at walking speed: it must carry the same id
        for tid, det in clear:
            for ptid, pdet in prev:
                if _iou_matrix(det.box[None], pdet.box[None])[0, 0] >= 0.5:
                    checks += 1
                    switches += tid != ptid
        prev = clear
    assert frames == 105
    assert checks > 200
    assert switches == 0
    # the two people in view for the whole clip are each one track from the first frame to the last
    assert sorted(life.values())[-2:] == [frames, frames]
    # several people, but not a new id every few frames
    assert 4 <= len(life) <= 15


@pytest.fixture(scope="module")
def face_crops(datasets, detector):
    """Face crops of two different real people (a few webcam frames each)."""
    from edge_agent.vision.image_io import load_image

    out = []
    for subject in ("0001", "0005"):
        paths = sorted((datasets / "ea-nuaa-webcam-15" / f"nuaa_{subject}").glob("*.jpg"))[:4]
        crops = []
        for p in paths:
            img = load_image(p)
            crops.append(face_crop(img, detector.detect(img)[0]))
        out.append(crops)
    return out


def _gt_ids(stream, tracker, detector, n):
    """For each pasted face, the track ids the tracker gave it (matched by box overlap) frame by frame."""
    ids: list[list[int]] = [[] for _ in stream.faces]
    for i in range(n):
        update = tracker.update(detector.detect(stream.frame(i)), timestamp=i / 25)
        gt = stream.boxes(i)
        for t in update.active:
            iou = _iou_matrix(t.detection.box[None], gt)[0]
            k = int(np.argmax(iou))
            if iou[k] >= 0.3:
                ids[k].append(t.track_id)
    return ids


@pytest.mark.datasets
def test_real_face_moving_across_the_frame_keeps_one_id(face_crops, detector):
    stream = MovingFacesStream([MovingFace(face_crops[0], 90, (80.0, 240.0), (9.0, 1.5), bounce=False)])
    ids = _gt_ids(stream, FaceTracker(), detector, 55)  # 80 -> 566 px: the whole width of the frame
    assert len(ids[0]) >= 50  # detected and tracked in (nearly) every frame
    assert set(ids[0]) == {ids[0][0]}


@pytest.mark.datasets
def test_two_real_faces_crossing_keep_their_ids(face_crops, detector):
    # left-to-right and right-to-left on nearly the same line: the faces overlap mid-way
    a = MovingFace(face_crops[0], 80, (90.0, 230.0), (10.0, 0.0), bounce=False)
    b = MovingFace(face_crops[1], 80, (550.0, 260.0), (-10.0, 0.0), bounce=False)
    stream = MovingFacesStream([a, b])
    ids = _gt_ids(stream, FaceTracker(), detector, 46)
    assert len(ids[0]) >= 30 and len(ids[1]) >= 30
    assert set(ids[0]) == {ids[0][0]}
    assert set(ids[1]) == {ids[1][0]}
    assert ids[0][0] != ids[1][0]
    # both faces were seen again after the crossing (centres cross at frame 23)
    assert stream.boxes(45)[0][0] > stream.boxes(45)[1][0]


# ---- synthetic boxes: the association rules themselves ----------------------------------------
def test_crossing_with_full_occlusion_keeps_ids_by_motion():
    tracker = FaceTracker()
    ids_a, ids_b = set(), set()
    for i in range(40):
        ax, bx = 50 + 12 * i, 530 - 12 * i
        dets = [box_det(ax, 200, ax + 60, 260)]
        if not 17 <= i <= 22:  # b is hidden behind a around the crossing (frames 17-22)
            dets.append(box_det(bx, 205, bx + 60, 265, score=0.88))
        for t in tracker.update(dets).active:
            cx = (t.detection.box[0] + t.detection.box[2]) / 2
            (ids_a if abs(cx - (ax + 30)) < 5 else ids_b).add(t.track_id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_low_score_detections_keep_a_track_but_do_not_start_one():
    tracker = FaceTracker(TrackerConfig(high_score=0.8, low_score=0.5))
    ids = set()
    for i in range(20):
        score = 0.9 if i < 5 else 0.6  # the face turns away: the detector is less sure
        ids |= {t.track_id for t in tracker.update([box_det(100 + 4 * i, 100, 160 + 4 * i, 160, score)]).active}
    assert len(ids) == 1
    fresh = FaceTracker()
    for _ in range(5):
        assert fresh.update([box_det(100, 100, 160, 160, 0.6)]).active == []
    assert fresh.tracks == []


def test_birth_needs_consecutive_hits_and_death_is_reported_once():
    tracker = FaceTracker(TrackerConfig(min_hits=2, max_lost=3))
    tracker.update([])  # frame 0 is empty, so births are not instantly confirmed
    first = tracker.update([box_det(10, 10, 70, 70)], timestamp=1.0)
    assert first.active == [] and tracker.tracks[0].state is TrackState.TENTATIVE
    second = tracker.update([box_det(12, 10, 72, 70)], timestamp=2.0)
    assert [t.state for t in second.active] == [TrackState.CONFIRMED]
    tid = second.active[0].track_id
    finished = []
    for k in range(6):
        finished += tracker.update([], timestamp=3.0 + k).finished
    assert [t.track_id for t in finished] == [tid]
    assert finished[0].first_ts == 1.0 and finished[0].last_ts == 2.0
    assert tracker.tracks == []
    # a one-frame false positive never becomes a track
    tracker.update([box_det(300, 300, 340, 340)])
    tracker.update([])
    assert all(t.state is not TrackState.CONFIRMED for t in tracker.tracks)


def test_lost_track_resumes_with_same_id():
    tracker = FaceTracker(TrackerConfig(max_lost=10))
    tid = None
    for i in range(30):
        x = 100 + 5 * i
        dets = [] if 10 <= i < 15 else [box_det(x, 100, x + 60, 160)]
        for t in tracker.update(dets).active:
            tid = t.track_id if tid is None else tid
            assert t.track_id == tid


def test_far_detection_starts_a_new_track():
    tracker = FaceTracker()
    a = tracker.update([box_det(10, 10, 70, 70)]).active[0].track_id
    update = tracker.update([box_det(400, 300, 460, 360)])
    assert update.active == []  # the jump is not the same face; the new one is still tentative
    update = tracker.update([box_det(402, 300, 462, 360)])
    assert [t.track_id for t in update.active] != [a]


def test_flush_ends_every_confirmed_track():
    tracker = FaceTracker()
    tracker.update([box_det(10, 10, 70, 70), box_det(200, 10, 260, 70)])
    done = tracker.flush()
    assert len(done) == 2 and tracker.tracks == []


def test_track_remembers_its_widest_face():
    """A face walking towards the camera and away again: the track keeps the widest face it matched (what the
    camera-placement check reports), not the latest, and a low-score detection that keeps the track counts too."""
    tracker = FaceTracker()
    widths = [40, 44, 50, 56, 52, 46]
    for i, w in enumerate(widths):
        x = 100 + 6 * i
        update = tracker.update([box_det(x, 100, x + w, 100 + 1.2 * w, score=0.6 if w == 56 else 0.9)])
        track = update.active[0]
        assert track.max_face_px == pytest.approx(max(widths[:i + 1]))
    assert len({t.track_id for t in tracker.tracks}) == 1
    assert [t.max_face_px for t in tracker.flush()] == [pytest.approx(56)]


def test_face_size_tally_bands_window_and_median():
    """The pipeline's count of ended tracks by widest face: a face of exactly a bound falls in that bound's band
    (Prometheus `le`), the heartbeat reads only the latest tracks, the median is of the kept widths."""
    from edge_agent.recognition.pipeline import FACE_PX_BOUNDS, FaceSizeTally

    tally = FaceSizeTally()
    for w in (38.0, 60.0, 60.5, 200.0, 45.0):
        tally.add(w)
    assert tally.tracks == 5 and tally.total_px == pytest.approx(403.5)
    cumulative = dict(tally.cumulative())
    assert cumulative[40.0] == 1 and cumulative[48.0] == 2 and cumulative[60.0] == 3 and cumulative[80.0] == 4
    assert cumulative[float("inf")] == 5 and list(cumulative)[:-1] == list(FACE_PX_BOUNDS)
    assert tally.at_most(60.0) == 3 and tally.median() == 60.0
    assert tally.latest_figures(60.0) == (5, 3, 60.0)
    assert tally.latest_figures(60.0, last=2) == (2, 1, 122.5)  # 200 and 45: the latest two
    assert tally.latest(2) == [200.0, 45.0] and tally.latest(0) == []
    assert FaceSizeTally().median() is None and FaceSizeTally().latest_figures(60.0) == (0, 0, None)
