"""`edge-agent run`: cameras → recognition pipeline → attendance rules, with the kiosk and the MQTT link.

One loop thread visits the cameras in turn, analyses at most `max_fps` frames per second per camera, and
pauses whenever the process exceeds its CPU budget. SIGTERM/SIGINT stop it gracefully: the current frame is
finished, open tracks are decided and recorded, the kiosk and the link stop, and the database is checkpointed
and closed. Health is written as JSON to `paths.health_path` every few seconds (`edge-agent status` reads it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from edge_agent.attendance.proposals import AttendanceEngine, Recognition
from edge_agent.attendance.timetable import bell_schedule, save_bells
from edge_agent.capture.cameras import Camera
from edge_agent.capture.cpu_budget import CpuGovernor
from edge_agent.config import EdgeSettings
from edge_agent.metrics import EdgeMetrics
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.recognition.pad_ledger import PadLedger
from edge_agent.store import erasure_queue, school_db
from edge_agent.store.school_keys import GALLERY_KEY, read_key
from edge_agent.sync import outbox as outbox_mod
from edge_agent.sync.downsync import Downsync, DownsyncSettings
from edge_agent.sync.mqtt_link import Link, MqttLinkSettings
from edge_agent.sync.outbox import Outbox
from edge_agent.sync.reconcile import confirm_unsent
from edge_agent.vision.crop import face_crop

log = logging.getLogger(__name__)
HEALTH_EVERY_S = 2.0
TICK_EVERY_S = 5.0
PAD_REASON_VI = "nghi ngờ ảnh/màn hình"  # = edge_agent.vision.pad.REASON_VI (not imported: keeps onnxruntime lazy)


class CameraWorker:
    """One camera with its own tracking/voting pipeline and the face crops of its open tracks."""

    def __init__(self, camera: Camera, pipeline):
        self.camera = camera
        self.pipeline = pipeline
        self.last_seq = 0
        self.next_at = 0.0
        self.crops: dict[int, object] = {}
        self.decided: Counter[str] = Counter()   # decision outcome -> tracks (edge_agent/metrics.py)
        self.finished = False

    @property
    def cfg(self):
        return self.camera.cfg


class DecisionDay:
    """The cameras' track decisions (accept / review / unknown) of the current local day, for the heartbeat;
    counted from the day's start, or from the agent's start when it started later that day."""

    def __init__(self, tz) -> None:
        self.tz = tz
        self._lock = threading.Lock()
        self._day = None
        self._since: datetime | None = None
        self._counts: Counter[str] = Counter()

    def _roll(self, now: datetime) -> None:
        day = now.astimezone(self.tz).date()
        if day != self._day:
            started = datetime.combine(day, datetime.min.time(), self.tz).astimezone(UTC)
            self._day, self._since, self._counts = day, now if self._day is None else started, Counter()

    def add(self, outcome: str, now: datetime | None = None) -> None:
        with self._lock:
            self._roll(now or datetime.now(UTC))
            self._counts[outcome] += 1

    def snapshot(self, now: datetime | None = None) -> dict:
        with self._lock:
            self._roll(now or datetime.now(UTC))
            c = self._counts
            return {"day": self._day, "since": self._since, "accepted": c["accept"], "review": c["review"],
                    "unknown": c["unknown"]}


class EdgeService:
    def __init__(self, settings: EdgeSettings, *, with_kiosk: bool | None = None, with_link: bool | None = None):
        self.s = settings
        self.with_kiosk = settings.kiosk.enabled if with_kiosk is None else with_kiosk
        self.with_link = settings.broker.enabled if with_link is None else with_link
        self.stop_event = threading.Event()
        self.key = read_key(settings.paths.keys_dir)
        self.conn = school_db.connect(settings.paths.db_path)
        save_bells(self.conn, bell_schedule(settings.bells))
        self.engine = AttendanceEngine(self.conn, settings.attendance, settings.school_code, self.key, settings.tz,
                                       device_id=f"edge-{settings.school_code}"[:64])
        self.governor = CpuGovernor(settings.cpu.budget_cores)
        self.outcomes: Counter[str] = Counter()
        self.started_at = datetime.now(UTC)
        self.decision_day = DecisionDay(settings.tz)
        self.decision_day.snapshot(self.started_at)  # today's counts start now
        self.gallery_note = ""
        self.pad = PadLedger()
        self.workers: list[CameraWorker] = []
        self._kiosk_server = None
        self._link = None
        self.gallery = None
        self.downsync = None
        self.learning = None
        self._erased_locally: set[str] = set()
        self._threads: list[threading.Thread] = []
        self.metrics = EdgeMetrics(settings.school_code, settings.paths.db_path, self)

    def gallery_seal(self) -> GallerySeal:
        """The school's gallery key: the installed gallery file is encrypted with it (gallery_seal.py)."""
        return GallerySeal(read_key(self.s.paths.keys_dir, GALLERY_KEY), self.s.school_code)

    # ---- building the pipeline ---------------------------------------------------------------------------------
    def _build_workers(self) -> None:
        # lazy: onnxruntime and FAISS load only when the school has a gallery
        from edge_agent.recognition.gallery import Gallery, GalleryError
        from edge_agent.recognition.pipeline import PipelineConfig, RecognitionPipeline
        from edge_agent.recognition.recognizer import DecisionThresholds, Recognizer, TrackVoter
        from edge_agent.recognition.thresholds import ThresholdsError, load_thresholds
        from edge_agent.recognition.track_decision import SetDecision
        from edge_agent.vision.analyzer import FaceAnalyzer
        from edge_agent.vision.embedder_choice import build_embedder, identity, model_name
        from models import ModelStore

        rec = self.s.recognition
        store = ModelStore()
        thresholds = calibration = None
        try:
            calibration = load_thresholds(self.s.paths.thresholds, embedder=model_name(rec.embedder))
            thresholds = DecisionThresholds.from_calibration(calibration)
        except ThresholdsError as exc:
            self.gallery_note = f"no calibrated thresholds: {exc}; cameras run, nobody is recognised"
            log.warning(self.gallery_note)
        try:
            if calibration is None:
                raise GalleryError("no thresholds for the school's embedder")
            expected = identity(rec.embedder, store, calibration.fusion_weight)
            # templates of another embedder are refused (they are not comparable): re-enrol from photos
            # encrypted at rest with the school's gallery key; an old plain file is encrypted in place
            gallery = Gallery.load(self.s.paths.gallery_path, expect_model_sha256=expected.sha256,
                                   seal=self.gallery_seal(), migrate_plain=True)
        except GalleryError as exc:
            hint = ("" if "not the embedder in use" not in str(exc) else
                    f" (this school runs embedder {rec.embedder!r}: enrol again from the photos with it, "
                    "`enroll photos`, then export and import the gallery; or set recognition.embedder back)")
            self.gallery_note = self.gallery_note or f"no gallery: {exc}{hint}; cameras run, nobody is recognised"
            log.warning(self.gallery_note)
            gallery = None
        self.gallery = gallery
        if gallery is not None:
            self._start_learning(gallery, expected, thresholds)
        pad = self._load_pad(store) if gallery is not None else None
        for cfg in self.s.cameras:
            camera = Camera(cfg)
            pipeline = None
            if gallery is not None:
                analyzer = FaceAnalyzer.from_store(store, threads=self.s.cpu.threads,
                                                   score_threshold=PipelineConfig().detect_score)
                embedder = analyzer.embedder
                if rec.embedder != "mfn":
                    embedder, _ = build_embedder(rec.embedder, store, threads=self.s.cpu.threads,
                                                 weight=calibration.fusion_weight)
                voter = TrackVoter(Recognizer(gallery, thresholds),
                                   set_decision=SetDecision() if rec.set_decision else None)
                pipeline = RecognitionPipeline(analyzer.detector, embedder, voter,
                                               PipelineConfig(pad_threshold=cfg.pad_threshold),
                                               pad=pad if cfg.pad != "off" else None,
                                               on_stage=self.metrics.stage_observer(cfg.name))
            self.workers.append(CameraWorker(camera, pipeline))
            measured = pipeline is not None and pipeline.pad is not None
            self.pad.add_camera(cfg.name, cfg.pad if measured or cfg.pad == "off" else "unavailable",
                                cfg.pad_threshold or (pad.threshold if measured else None))

    def _load_pad(self, store):
        """The presentation-attack detector, when a camera uses it (loaded once, shared: the loop is one thread).
        A camera that enforces PAD does not run without it; report-only cameras run on with a note."""
        if all(c.pad == "off" for c in self.s.cameras):
            return None
        from edge_agent.vision.pad import PresentationAttackDetector  # lazy, as the rest of the vision stack

        try:
            return PresentationAttackDetector.from_store(store, threads=1)
        except Exception as exc:
            if any(c.pad == "enforce" for c in self.s.cameras):
                raise RuntimeError(f"a camera enforces presentation-attack detection but its model cannot be loaded:"
                                   f" {exc} (fetch it: `models fetch`, or set the camera's pad to report)") from exc
            self.pad.note_text = f"PAD model not loaded, nothing measured: {exc}"
            log.warning(self.pad.note_text)
            return None

    def _start_learning(self, gallery, model, thresholds) -> None:
        """Learning from confirmed sightings (`[recognition] learning`, on by default)."""
        # lazy: FAISS loads only when the school has a gallery
        from edge_agent.recognition.learning import LearningPolicy
        from edge_agent.recognition.learning_loop import LearningLoop
        from edge_agent.recognition.template_store import TemplateCipher

        rec = self.s.recognition
        cipher = TemplateCipher(read_key(self.s.paths.keys_dir, GALLERY_KEY), self.s.school_code)
        self.learning = LearningLoop(self.conn, cipher, model,
                                     LearningPolicy.from_thresholds(thresholds, max_learned=rec.max_learned),
                                     gallery, self.s.paths.gallery_path, enabled=rec.learning,
                                     seal=self.gallery_seal())

    def _update_rosters(self, now: datetime) -> None:
        """Roster-first matching: each classroom camera searches the class scheduled in its room first."""
        for w in self.workers:
            if w.pipeline is None or w.cfg.role != "classroom":
                continue
            w.pipeline.set_roster(self.engine.roster(w.cfg.room or "", now))

    # ---- running -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._build_workers()
        for w in self.workers:
            w.camera.start()
        if self.with_kiosk:
            self._start_kiosk()
        if self.with_link:
            self._start_link()
        if self.s.metrics.enabled:
            self.metrics.serve(self.s.metrics.host, self.s.metrics.port)

    def mqtt_connected(self) -> bool:
        return self._link is not None and self._link.wait_connected(0)

    def _start_kiosk(self) -> None:
        # lazy: the kiosk's web stack loads only when the kiosk is enabled
        from edge_agent.kiosk.app import KioskContext, create_kiosk_app
        from edge_agent.kiosk.serve import kiosk_server

        rooms = [c.room for c in self.s.cameras if c.role == "classroom" and c.room]
        ctx = KioskContext(self.s.paths.db_path, self.s.school_code, self.key, self.s.attendance, self.s.kiosk,
                           self.s.tz, room=rooms[0] if len(rooms) == 1 else None)
        self._kiosk_server = kiosk_server(create_kiosk_app(ctx), self.s.kiosk)
        self._kiosk_server.install_signal_handlers = lambda: None     # our own handler stops everything
        t = threading.Thread(target=self._kiosk_server.run, name="kiosk", daemon=True)
        t.start()
        self._threads.append(t)

    def _kiosk_url(self) -> str:
        k = self.s.kiosk
        return f"{'https' if k.tls else 'http'}://{k.host}:{k.port}/"

    def _start_link(self) -> None:
        b = self.s.broker
        self._start_downsync()
        self._confirm_unsent()
        self._link = Link(MqttLinkSettings(school=self.s.school_code, key_hex=self.key.hex(),
                                           db_path=self.s.paths.db_path, host=b.host, port=b.port,
                                           username=b.username, password=b.password, tls_ca=b.ca_file),
                          on_control=self.downsync.handle if self.downsync else None,
                          status_extra=self.status_extra)
        t = threading.Thread(target=self._link.run, args=(self.stop_event,), name="mqtt-link", daemon=True)
        t.start()
        self._threads.append(t)

    def _confirm_unsent(self) -> None:
        """Rows whose PUBACK the last run never saw: the central server may hold them already (see
        `edge_agent.sync.reconcile.confirm_unsent`). Unreachable central server: they are simply sent again."""
        if not self.s.central.url:
            return
        conn = school_db.connect(self.s.paths.db_path, migrate_schema=False, implicit_transactions=True)
        try:
            done = confirm_unsent(outbox_mod.Outbox(conn), self.s.central.url, self.s.school_code, self.key,
                                  ca_file=self.s.central.ca_file, timeout_s=10)
            if done:
                log.info("%d unacknowledged events were already held by the central server", len(done))
        except Exception as exc:  # noqa: BLE001 - offline at start: the link re-sends them, nothing is lost
            log.warning("could not confirm unacknowledged events with the central server: %s", exc)
        finally:
            conn.close()

    def _start_downsync(self) -> None:
        """Control messages from the central server: erasures reach the live gallery at once, packages are
        fetched from the central server (when its URL is set), verified and swapped in."""
        if self.gallery is None:
            return
        # lazy: FAISS loads only when the school has a gallery
        from edge_agent.recognition.gallery_opener import GalleryOpener
        from edge_agent.recognition.learned_store import erase_in_school_db
        # a package of another embedder is refused (its templates are not comparable with the running ones)
        seal = self.gallery_seal()
        opener = GalleryOpener(self.s.school_code, read_key(self.s.paths.keys_dir, GALLERY_KEY),
                               expect_model_sha256=self.gallery.meta.model_sha256)
        self.downsync = Downsync(DownsyncSettings(school=self.s.school_code, key_hex=self.key.hex(),
                                                  central_url=self.s.central.url or "",
                                                  data_dir=self.s.paths.gallery_path.parent,
                                                  ca_file=self.s.central.ca_file),
                                 self.gallery, open_gallery=opener, permanent_errors=opener.permanent_errors,
                                 on_erase=partial(erase_in_school_db, self.s.paths.db_path),
                                 save_gallery=lambda g, p: g.save(p, seal=seal))
        if self.s.central.url:
            self.downsync.start()

    def apply_local_erasures(self) -> int:
        """Erasures made at the school (`enroll remove`, consent withdrawal) leave the running gallery too;
        they stay queued in the school database for propagation to the central server."""
        if self.gallery is None:
            return 0
        removed = 0
        for request in erasure_queue.pending(self.conn):
            if request.student_id in self._erased_locally:
                continue
            removed += self.downsync.erase(request.student_id) if self.downsync \
                else self.gallery.remove(request.student_id)
            self._erased_locally.add(request.student_id)
        return removed

    def run(self, *, until_idle: bool = False) -> int:
        """The main loop; returns when stopped (or, with `until_idle`, when every video file has ended)."""
        self.start()
        last_tick = last_health = 0.0
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now - last_tick >= TICK_EVERY_S:
                    wall = datetime.now(UTC)
                    self.engine.tick(wall)
                    self._update_rosters(wall)
                    self.apply_local_erasures()
                    if self.learning is not None:
                        try:
                            self.learning.tick(wall.astimezone(self.s.tz).date())
                        except Exception:  # learning is a bonus: it never stops attendance
                            log.exception("learning from confirmed sightings failed; attendance goes on")
                    last_tick = now
                worked = any([self._step(w) for w in self.workers])
                if now - last_health >= HEALTH_EVERY_S:
                    self.write_health("running")
                    last_health = now
                if until_idle and all(w.finished for w in self.workers):
                    break
                if worked:
                    self.governor.throttle()
                else:
                    self.stop_event.wait(0.01)
        finally:
            self.shutdown()
        return 0

    def _step(self, w: CameraWorker) -> bool:
        if w.finished:
            return False
        frame = w.camera.latest(w.last_seq)
        if frame is None:
            if w.camera.health().state == "ended":
                self._record(w, w.pipeline.finish() if w.pipeline else [])
                w.finished = True
            return False
        if time.monotonic() < w.next_at:
            return False
        w.next_at = time.monotonic() + 1.0 / w.cfg.max_fps
        w.last_seq = frame.seq
        if w.pipeline is None:
            return True
        decisions = w.pipeline.process(frame.image, frame.ts)
        self._keep_crops(w, frame.image)
        self._record(w, decisions)
        return True

    def _keep_crops(self, w: CameraWorker, image) -> None:
        live = w.pipeline.live_track_ids()
        for tid in list(w.crops):
            if tid not in live:
                w.crops.pop(tid)
        for tid, detection in w.pipeline.undecided_faces():
            w.crops[tid] = face_crop(image, detection, margin=0.2)

    def _record(self, w: CameraWorker, decisions) -> None:
        for d in decisions:
            w.decided[str(d.outcome)] += 1
            self.decision_day.add(str(d.outcome))
            rec = Recognition(camera=w.cfg.name, role=w.cfg.role, room=w.cfg.room,
                              at=datetime.fromtimestamp(d.first_ts, UTC), decision=d.outcome,
                              student_id=d.student_id, score=None if d.score != d.score else float(d.score),
                              track_id=f"{w.cfg.name}-{int(d.first_ts)}-{d.track_id}",
                              crop=w.crops.get(d.track_id), direction=w.cfg.direction)
            refused = d.pad is not None and self.pad.note(w.cfg.name, d.track_id, d.pad)
            try:
                if refused:
                    pad = d.pad.decision
                    rec = replace(rec, crop=face_crop(*d.pad.best, margin=0.2) if d.pad.best else rec.crop,
                                  pad_score=pad.score, pad_threshold=pad.threshold, pad_frames=pad.frames)
                    outcome = self.engine.review_sighting(rec, PAD_REASON_VI, suspected_attack=True)
                else:
                    outcome = self.engine.record(rec)
            except Exception:          # one bad record must not stop the school's attendance
                log.exception("camera %s: could not record a decision", w.cfg.name)
                outcome = "error"
            self.outcomes[outcome] += 1
            if self.learning is not None and outcome in ("proposed_present", "proposed_late", "review"):
                try:
                    self.learning.keep(d, proposed_at=rec.at.isoformat(), camera=w.cfg.name, track_id=rec.track_id,
                                       via="review" if outcome == "review" else "proposal")
                except Exception:  # learning is a bonus: it never stops attendance
                    log.exception("camera %s: could not keep the sighting for learning", w.cfg.name)
            log.info("camera %s: %s %s -> %s", w.cfg.name, d.outcome, d.student_id, outcome)

    def request_stop(self, *_args) -> None:
        self.stop_event.set()

    def shutdown(self) -> None:
        self.stop_event.set()
        for w in self.workers:
            w.camera.stop()
            if w.pipeline is not None and not w.finished:
                self._record(w, w.pipeline.finish())
                w.finished = True
        if self._kiosk_server is not None:
            self._kiosk_server.should_exit = True
        if self.downsync is not None:
            self.downsync.stop()
        self.metrics.stop()
        for t in self._threads:
            t.join(timeout=10)
        self.write_health("stopped")
        school_db.close(self.conn)

    # ---- health ------------------------------------------------------------------------------------------------
    def health(self, state: str) -> dict:
        backlog = Outbox(self.conn).backlog() if state != "stopped" else None
        return {
            "school": self.s.school_code, "state": state, "pid": os.getpid(),
            "started_at": self.started_at.isoformat(), "updated_at": datetime.now(UTC).isoformat(),
            "cameras": [{**w.camera.health().as_dict(), **self._faces(w)} for w in self.workers],
            "recognition": {"gallery": self.gallery_note or "loaded", "outcomes": dict(self.outcomes),
                            "frames": sum(w.pipeline.stats.frames for w in self.workers if w.pipeline)},
            "pad": self.pad.health(),
            "cpu": {"budget_cores": self.s.cpu.budget_cores, "used_cores": round(self.governor.usage(), 3),
                    "throttled_s": round(self.governor.slept_s, 2)},
            "outbox": None if backlog is None else {"unsent": backlog.unsent, "unacked": backlog.unacked,
                                                    "oldest_age_s": backlog.oldest_age_s, "alerts": backlog.alerts},
            "kiosk": self._kiosk_url() if self.with_kiosk else None,
        }

    @staticmethod
    def _faces(w: CameraWorker) -> dict:
        """The placement check of one camera (hardware/README.md section 3), for `edge-agent status` and the
        heartbeat: of its latest 200 face tracks (about a day at a classroom door, so a camera that was moved
        is judged on its new place within a day, without a restart), how many never grew wider than 60 px,
        and their median widest face; nothing for a camera that runs no recognition."""
        if w.pipeline is None:
            return {}
        from edge_agent.recognition.pipeline import MOUNT_MIN_FACE_PX  # loaded with the pipeline

        tracks, small, median = w.pipeline.stats.face_px.latest_figures(MOUNT_MIN_FACE_PX, last=200)
        return {"face_tracks": tracks, "small_face_tracks": small,
                "median_face_px": None if median is None else round(median, 1)}

    def status_extra(self) -> dict:
        """What the heartbeat tells the operations centre besides the outbox (called on the link's thread): each
        camera's frame rate and face sizes, the installed gallery's version, the embedder in use, today's decisions."""
        cameras = []
        for w in self.workers:
            h = w.camera.health()
            last = (None if h.last_frame_age_s is None
                    else datetime.fromtimestamp(time.time() - h.last_frame_age_s, UTC))
            cam = {"camera_id": h.name, "fps": h.fps, "online": h.state == "streaming", "last_frame_at": last}
            faces = self._faces(w)
            if faces:
                cam["face_tracks"], cam["small_face_tracks"] = faces["face_tracks"], faces["small_face_tracks"]
            cameras.append(cam)
        meta = self.gallery.meta if self.gallery is not None else None  # an empty gallery still has its model
        return {"cameras": cameras, "gallery_version": meta.version if meta else None,
                "model_versions": {meta.model_name: meta.model_sha256[:12]} if meta else {},
                "recognitions": self.decision_day.snapshot()}

    def write_health(self, state: str) -> None:
        path = self.s.paths.health_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
            fh.write(json.dumps(self.health(state), ensure_ascii=False, indent=2))  # the data dir is 0600 throughout
        os.replace(tmp, path)


def run_service(settings: EdgeSettings, *, until_idle: bool = False) -> int:
    service = EdgeService(settings)
    signal.signal(signal.SIGTERM, service.request_stop)
    signal.signal(signal.SIGINT, service.request_stop)
    return service.run(until_idle=until_idle)


def read_health(path: Path, stale_after_s: float = 30.0) -> tuple[int, dict]:
    """(exit code, health) for `edge-agent status`: 0 running and fresh, 1 stopped or stale, 2 no health file."""
    try:
        health = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 2, {"state": "unknown", "error": f"{path} not found: is edge-agent running?"}
    except json.JSONDecodeError as exc:
        return 2, {"state": "unknown", "error": f"{path}: unreadable health file ({exc})"}
    age = (datetime.now(UTC) - datetime.fromisoformat(health["updated_at"])).total_seconds()
    health["age_s"] = round(age, 1)
    if health.get("state") == "running" and not _alive(health.get("pid")):
        health["state"] = "dead"
    elif health.get("state") == "running" and age > stale_after_s:
        health["state"] = "stale"
    return (0 if health["state"] == "running" else 1), health


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True
