"""End to end: real faces moving through frames → detector → tracker → voting → one decision per track,
through the pipeline and through `edge-agent recognize`."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import cv2
import pytest
from matching_data import ENROLLED
from typer.testing import CliRunner

from edge_agent.cli import app
from edge_agent.demo.synthetic_stream import MovingFace, MovingFacesStream
from edge_agent.recognition.pipeline import RecognitionPipeline, run_stream
from edge_agent.recognition.recognizer import Recognizer, TrackVoter
from edge_agent.vision.crop import face_crop
from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.image_io import load_image

pytestmark = pytest.mark.datasets
N_FRAMES = 60


def crops_of(analyzer, photos):
    out = []
    for p in photos:
        img = load_image(p.path)
        out.append(face_crop(img, analyzer.detect(img)[0]))
    return out


@pytest.fixture(scope="module")
def stream(analyzer, nuaa_photos):
    """S0004 (photos of a session it was NOT enrolled from) and stranger 0012 walking past."""
    first = min(p.session for p in nuaa_photos["0004"])
    student = crops_of(analyzer, [p for p in nuaa_photos["0004"] if p.session != first])
    stranger = crops_of(analyzer, nuaa_photos["0012"])
    return MovingFacesStream([
        MovingFace(student, 110, (120.0, 170.0), (6.0, 1.0), bounce=False),
        MovingFace(stranger, 100, (520.0, 330.0), (-5.0, -1.0), bounce=False),
    ])


def check_decisions(decisions, stream):
    by_track = {}
    for d in decisions:
        assert d["track_id"] not in by_track, "more than one decision for a track"
        by_track[d["track_id"]] = d
    accepted = [d for d in by_track.values() if d["outcome"] == "accept"]
    assert [d["student_id"] for d in accepted] == ["S0004"]  # the student, once; nobody else
    student = accepted[0]
    assert student["frames_used"] >= 3 and student["margin"] > 0
    assert student["first_ts"] <= 0.1 and student["last_ts"] < 1.0  # decided within a second
    unknown = [d for d in by_track.values() if d["outcome"] == "unknown"]
    assert len(unknown) >= 1  # the stranger's track
    assert all(d["student_id"] == "unknown" and d["candidate_id"] is None for d in unknown)


@pytest.mark.parametrize("workers", [1, 2])
def test_pipeline_decides_once_per_track(stream, school, thresholds, analyzer, model_store, workers):
    voter = TrackVoter(Recognizer(school, thresholds, roster=[f"S{s}" for s in ENROLLED]))
    detectors = [YuNetDetector(model_store.path("yunet"), score_threshold=0.5) for _ in range(workers)]
    pipe = RecognitionPipeline(detectors[0], analyzer.embedder, voter)
    frames = ((stream.frame(i), i / 25) for i in range(N_FRAMES))
    decisions = list(run_stream(frames, pipe, detectors))
    check_decisions([d.to_json_dict() for d in decisions], stream)
    # tracking pays off: far fewer embeddings than faces detected
    assert pipe.stats.frames == N_FRAMES
    assert pipe.stats.embeddings * 4 < pipe.stats.detections
    # each decision carries its track's widest face: the pasted faces are 110 (student) and 100 px tall, and a
    # face box is a little narrower than tall
    student = next(d for d in decisions if d.outcome == "accept")
    assert 0.6 * 110 <= student.face_px <= 1.1 * 110, student.face_px
    assert all(0.6 * 100 <= d.face_px <= 1.1 * 110 for d in decisions), [d.face_px for d in decisions]
    # every track that ended is counted by its widest face, and none of these stayed at or under 60 px
    tally = pipe.stats.face_px
    assert tally.tracks >= len(decisions) and tally.at_most(60.0) == 0
    assert tally.cumulative()[-1] == (float("inf"), tally.tracks)
    assert 0.6 * 100 <= tally.median() <= 1.1 * 110 and 0.6 * 100 <= tally.total_px / tally.tracks <= 1.1 * 110


def write_video(path, frames, size) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return str(path)


@pytest.fixture(scope="module")
def video_file(stream, tmp_path_factory):
    return Path(write_video(tmp_path_factory.mktemp("video") / "corridor.avi", stream.frames(N_FRAMES),
                            stream.frame_size))


@pytest.fixture(scope="module")
def gallery_file(enrolment, gallery_meta, tmp_path_factory):
    from edge_agent.recognition.gallery import Gallery

    embs, ids = enrolment
    return Gallery(embs, ids, gallery_meta).save(tmp_path_factory.mktemp("g") / "school.npz")


def test_recognize_cli_prints_one_json_line_per_track(video_file, gallery_file):
    roster = ",".join(f"S{s}" for s in ENROLLED)
    result = CliRunner().invoke(app, ["recognize", "--source", str(video_file), "--gallery", str(gallery_file),
                                      "--roster", roster, "--json", "--threads", "2"])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    decisions = [json.loads(ln) for ln in lines]
    assert decisions and all({"track_id", "student_id", "score", "margin", "frames_used", "first_ts",
                              "last_ts"} <= d.keys() for d in decisions)
    check_decisions(decisions, None)
    assert f"{N_FRAMES} khung hình" in result.stderr
    # faces of 100-110 px: the size line, no placement warning
    assert all(d["face_px"] >= 60 for d in decisions)
    assert re.search(r"trung vị \d+ px; 0/\d+ vệt không lần nào rộng quá 60 px", result.stderr), result.stderr
    assert "Cảnh báo" not in result.stderr


@pytest.fixture(scope="module")
def far_stream(stream):
    """The same walkers at 40 px: a camera hung too far."""
    from edge_agent.demo.synthetic_stream import MovingFacesStream

    return MovingFacesStream([replace(f, size=40) for f in stream.faces])


@pytest.fixture(scope="module")
def far_video(far_stream, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("far") / "far.avi", far_stream.frames(N_FRAMES),
                       far_stream.frame_size)


def test_recognize_cli_warns_when_the_camera_sees_faces_too_small(far_video, gallery_file):
    """The same walkers at 40 px (a camera hung too far): every track's widest face is under the 60 px of
    hardware/README.md section 3, and the installer is told so, with where to read why."""
    result = CliRunner().invoke(app, ["recognize", "--source", far_video, "--gallery", str(gallery_file),
                                      "--roster", ",".join(f"S{s}" for s in ENROLLED), "--json"])
    assert result.exit_code == 0, result.output
    decisions = [json.loads(ln) for ln in result.stdout.splitlines() if ln.strip()]
    assert decisions, "the detector still follows 40 px faces"
    assert all(0.6 * 40 <= d["face_px"] <= 1.1 * 40 for d in decisions), [d["face_px"] for d in decisions]
    counted = re.search(r"trung vị (\d+) px; (\d+)/(\d+) vệt không lần nào rộng quá 60 px", result.stderr)
    assert counted, result.stderr
    median, small, tracks = (int(g) for g in counted.groups())
    assert 0.6 * 40 <= median <= 1.1 * 40 and small == tracks >= len(decisions)
    assert "Cảnh báo: phần lớn khuôn mặt không rộng quá 60 px" in result.stderr
    assert "hardware/README.md" in result.stderr


def test_recognize_cli_human_output_is_vietnamese(video_file, gallery_file):
    result = CliRunner().invoke(app, ["recognize", "--source", str(video_file), "--gallery", str(gallery_file),
                                      "--roster", ",".join(f"S{s}" for s in ENROLLED)])
    assert result.exit_code == 0, result.output
    assert "nhận diện S0004" in result.stdout and "người lạ" in result.stdout


def test_recognize_cli_bad_inputs_are_clear_errors(video_file, gallery_file, tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["recognize", "--source", str(tmp_path / "none.mp4"), "--gallery",
                                  str(gallery_file)])
    assert missing.exit_code == 2 and "không tìm thấy tệp video" in missing.stderr
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video")
    bad_video = runner.invoke(app, ["recognize", "--source", str(not_video), "--gallery", str(gallery_file)])
    assert bad_video.exit_code == 2 and bad_video.stderr.startswith("Lỗi: ")
    bad_gallery = tmp_path / "g.npz"
    bad_gallery.write_bytes(b"garbage")
    res = runner.invoke(app, ["recognize", "--source", str(video_file), "--gallery", str(bad_gallery)])
    assert res.exit_code == 2 and "unreadable gallery file" in res.stderr and res.stderr.startswith("Lỗi: ")
    # thresholds calibrated for another embedder are refused, not silently applied
    from edge_agent.recognition.thresholds import DEFAULT_PATH

    other = tmp_path / "thresholds.toml"
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    sha = text.split('embedder_sha256 = "')[1].split('"')[0]
    other.write_text(text.replace(sha, "0" * 64), encoding="utf-8")
    res = runner.invoke(app, ["recognize", "--source", str(video_file), "--gallery", str(gallery_file),
                              "--thresholds", str(other)])
    assert res.exit_code == 2 and "accuracy.py --calibrate" in res.stderr


def test_unreachable_stream_and_missing_camera_are_clear_errors():
    from edge_agent.capture.sources import SourceError, VideoSource

    with pytest.raises(SourceError, match="không mở được nguồn video: rtsp://127.0.0.1:1/none"):
        VideoSource("rtsp://127.0.0.1:1/none")
    with pytest.raises(SourceError, match="không mở được nguồn video: 63"):
        VideoSource("63")


def test_video_file_frames_are_scaled_and_timestamped(video_file):
    from edge_agent.capture.sources import VideoSource

    frames = list(VideoSource(str(video_file), max_width=320).frames(max_frames=5))
    assert len(frames) == 5
    assert all(f.shape == (240, 320, 3) for f, _ in frames)
    assert [round(ts, 2) for _, ts in frames] == [0.0, 0.04, 0.08, 0.12, 0.16]


def test_recognize_cli_decides_with_the_schools_embedder(video_file, nuaa_photos, analyzer, model_store, tmp_path,
                                                         gallery_file):
    """A school that runs the fused embedder (MobileFaceNet + SFace): `recognize` takes it from the school's
    edge.toml, or from --embedder, with its own gallery and calibrated thresholds, and names the student as
    the running agent would; a gallery made with another embedder is refused with a clear error."""
    import numpy as np

    from edge_agent.recognition.gallery import Gallery, GalleryMeta
    from edge_agent.recognition.thresholds import load_thresholds
    from edge_agent.vision.embedder_choice import build_embedder
    from edge_agent.vision.faces import embed_detections

    weight = load_thresholds(embedder="fusion").fusion_weight
    fused, ident = build_embedder("fusion", model_store, weight=weight)
    embs, ids = [], []
    for subject in ENROLLED:
        first = min(p.session for p in nuaa_photos[subject])
        for p in (p for p in nuaa_photos[subject] if p.session == first):
            img = load_image(p.path)
            embs.append(embed_detections(img, analyzer.detect(img)[:1], analyzer.detector, fused)[0])
            ids.append(f"S{subject}")
    fusion_gallery = Gallery(np.stack(embs), ids, GalleryMeta(model_name=ident.name, model_sha256=ident.sha256,
                                                              version="test")).save(tmp_path / "fusion.npz")
    roster = ",".join(f"S{s}" for s in ENROLLED)
    runner = CliRunner()
    base = ["recognize", "--source", str(video_file), "--roster", roster, "--json"]

    by_flag = runner.invoke(app, [*base, "--gallery", str(fusion_gallery), "--embedder", "fusion",
                                  "--config", str(tmp_path / "no-such.toml")])
    assert by_flag.exit_code == 0, by_flag.output
    check_decisions([json.loads(ln) for ln in by_flag.stdout.splitlines() if ln.strip()], None)

    init = runner.invoke(app, ["init", "--school", "THPT-FUSION", "--out", str(tmp_path / "edge.toml"),
                               "--data-dir", str(tmp_path / "var")])
    assert init.exit_code == 0, init.output
    with open(tmp_path / "edge.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[recognition]\nembedder = "fusion"\n')
    by_config = runner.invoke(app, [*base, "--gallery", str(fusion_gallery), "--config", str(tmp_path / "edge.toml")])
    assert by_config.exit_code == 0, by_config.output
    check_decisions([json.loads(ln) for ln in by_config.stdout.splitlines() if ln.strip()], None)

    # the school's MobileFaceNet gallery is not comparable with the fused embedder: refused, nothing decided
    wrong = runner.invoke(app, [*base, "--gallery", str(gallery_file), "--config", str(tmp_path / "edge.toml")])
    assert wrong.exit_code == 2 and "not the embedder in use" in wrong.stderr and wrong.stdout == ""
    bad = runner.invoke(app, [*base, "--gallery", str(fusion_gallery), "--embedder", "arcface"])
    assert bad.exit_code == 2 and "chọn một trong mfn, sface, fusion" in bad.stderr


def test_faces_checks_a_camera_before_anyone_is_enrolled(video_file, far_video, far_stream, tmp_path):
    """`edge-agent faces`: detection and tracking only (no gallery, no config), one line per face track with its
    widest face, and the placement summary: quiet for the 100-110 px walkers, a warning for the same walkers at
    40 px; an unreadable source is a clear error."""
    near = CliRunner().invoke(app, ["faces", "--source", str(video_file)])
    assert near.exit_code == 0, near.output
    widths = [int(m) for m in re.findall(r"mặt rộng nhất (\d+) px", near.stdout)]
    assert len(widths) >= 2 and all(0.6 * 100 <= w <= 1.1 * 110 for w in widths), near.stdout
    assert f"{N_FRAMES} khung hình, {len(widths)} vệt khuôn mặt" in near.stderr
    assert f"0/{len(widths)} vệt không lần nào rộng quá 60 px" in near.stderr and "Cảnh báo" not in near.stderr

    res = CliRunner().invoke(app, ["faces", "--source", far_video])
    assert res.exit_code == 0, res.output
    widths = [int(m) for m in re.findall(r"mặt rộng nhất (\d+) px", res.stdout)]
    assert widths and all(0.6 * 40 <= w <= 1.1 * 40 for w in widths), res.stdout
    assert f"{len(widths)}/{len(widths)} vệt không lần nào rộng quá 60 px" in res.stderr
    assert "Cảnh báo: phần lớn khuôn mặt không rộng quá 60 px" in res.stderr

    # the corridor with nobody in it: said so, no summary
    empty = write_video(tmp_path / "empty.avi", [far_stream.background] * 10, far_stream.frame_size)
    res = CliRunner().invoke(app, ["faces", "--source", empty])
    assert res.exit_code == 0 and res.stdout == "" and "Không thấy khuôn mặt nào" in res.stderr

    missing = CliRunner().invoke(app, ["faces", "--source", str(tmp_path / "none.mp4")])
    assert missing.exit_code == 2 and "không tìm thấy tệp video" in missing.stderr
