"""Down-sync through the real broker and a real HTTP server: erasure reaches the live FAISS index within
60 s (also when the school was offline), packages are fetched with the school's signed requests, verified
against the signed notice and swapped in; a tampered package is refused and the old gallery kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from conftest import CENTRAL_PASS, CENTRAL_USER, free_port, new_school, register, wait_port, wait_until
from fastapi import FastAPI
from sync_helpers import EdgeSite, RunningLink, link_settings

from central_server.control.publisher import ControlPublisher
from central_server.control.service import erasure_message, publish_package
from central_server.core.db import Base, make_engine, make_sessionmaker
from central_server.ingest import routes, tables
from central_server.ingest.config import IngestSettings
from edge_agent.recognition.gallery import Gallery, GalleryMeta
from edge_agent.recognition.gallery_opener import GalleryOpener
from edge_agent.sync.downsync import Downsync, DownsyncSettings
from edge_agent.vision.image_io import load_image

pytestmark = [pytest.mark.mqtt]


@pytest.fixture(scope="module")
def enrolled(datasets, model_store):
    """Real embeddings of 5 people (dlib-johns): 3 enrolment photos each, 1 query photo each."""
    from edge_agent.vision.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer.from_store(model_store)
    people = sorted((datasets / "dlib-johns" / "images").iterdir())[:5]
    emb, ids, queries = [], [], {}
    for n, person in enumerate(people):
        sid = f"0942070000{n:02d}"
        photos = sorted(person.iterdir())[:4]
        for k, photo in enumerate(photos):
            faces = analyzer.analyze(load_image(photo))
            assert faces, photo
            if k < 3:
                emb.append(faces[0].embedding)
                ids.append(sid)
            else:
                queries[sid] = faces[0].embedding
    entry = model_store.default("embedder")
    meta = GalleryMeta(entry.name, model_store.path(entry.name).name, "1")
    return np.stack(emb).astype(np.float32), ids, queries, meta


@pytest.fixture()
def central(tmp_path, broker):
    """A central HTTP server (ingest routes) on a free port, with its database and package folder."""
    engine = make_engine(f"sqlite:///{tmp_path / 'central.sqlite3'}")
    Base.metadata.create_all(engine, tables=[tables.SchoolKey.__table__])
    sessions = make_sessionmaker(engine)
    settings = IngestSettings(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS,
                              packages_dir=tmp_path / "packages", _env_file=None)
    app = FastAPI()
    app.include_router(routes.router)
    app.state.sessionmaker = sessions
    app.state.ingest_settings = settings
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    yield sessions, settings, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _edge(tmp_path, broker, central, enrolled):
    sessions, settings, url = central
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    emb, ids, queries, meta = enrolled
    gallery = Gallery(emb, ids, meta)
    opener = GalleryOpener(school)
    ds = Downsync(DownsyncSettings(school=school, key_hex=key.hex(), central_url=url, data_dir=tmp_path / "edge"),
                  gallery, open_gallery=opener, permanent_errors=opener.permanent_errors)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    return school, key, gallery, ds, site


def _top1(gallery: Gallery, query: np.ndarray) -> str:
    return gallery.search(query[None, :], top=1)[0][0].student_id


def test_erasure_reaches_live_index_within_60s(tmp_path, broker, central, enrolled):
    _, settings, _ = central
    school, key, gallery, ds, site = _edge(tmp_path, broker, central, enrolled)
    victim = "094207000002"
    assert _top1(gallery, enrolled[2][victim]) == victim  # recognised before the erasure
    link = RunningLink(link_settings(site, broker.port, "pw"), on_control=ds.handle)
    assert link.link.wait_connected(10)
    try:
        t0 = time.monotonic()
        ControlPublisher(settings).publish_now([erasure_message(school, key, victim, "DSR-2026-001")])
        wait_until(lambda: victim not in gallery, 60, msg="erasure at the edge")
        elapsed = time.monotonic() - t0
        assert _top1(gallery, enrolled[2][victim]) != victim
        saved = tmp_path / "edge" / "gallery.npz"
        wait_until(lambda: saved.exists(), 10, msg="gallery file rewritten")
        assert victim not in Gallery.load(saved).student_ids  # durable: a restart does not bring it back
        assert victim in (tmp_path / "edge" / "erasures.txt").read_text().split()
        print(f"erasure applied {elapsed * 1000:.0f} ms after the central request")
    finally:
        link.stop()


def test_erasure_queued_while_school_offline(tmp_path, broker, central, enrolled):
    _, settings, _ = central
    school, key, gallery, ds, site = _edge(tmp_path, broker, central, enrolled)
    link = RunningLink(link_settings(site, broker.port, "pw"), on_control=ds.handle)
    assert link.link.wait_connected(10)
    link.stop()  # the school goes offline; its persistent session stays at the broker
    ControlPublisher(settings).publish_now([erasure_message(school, key, "094207000001", "DSR-2")])
    assert "094207000001" in gallery
    link = RunningLink(link_settings(site, broker.port, "pw"), on_control=ds.handle)  # back online
    try:
        wait_until(lambda: "094207000001" not in gallery, 60, msg="queued erasure")
    finally:
        link.stop()


def test_gallery_and_roster_packages_verified_and_swapped(tmp_path, broker, central, enrolled):
    _, settings, _ = central
    school, key, gallery, ds, site = _edge(tmp_path, broker, central, enrolled)
    emb, ids, queries, meta = enrolled
    ds.erase("094207000004")  # erased before a package that still holds the student arrives
    ds.start()
    link = RunningLink(link_settings(site, broker.port, "pw"), on_control=ds.handle)
    assert link.link.wait_connected(10)
    try:
        keep = [i for i, s in enumerate(ids) if s != "094207000000"]  # v2 drops student 0, still has 4
        v2 = tmp_path / "v2.npz"
        Gallery(emb[keep], [ids[i] for i in keep], GalleryMeta(meta.model_name, meta.model_sha256, "2")).save(v2)
        roster = tmp_path / "roster.json"
        roster.write_text('{"10A1": ["094207000001", "094207000002"]}')
        notices = [publish_package(settings, school, key, "gallery.available", "2", v2),
                   publish_package(settings, school, key, "roster.available", "2026-09-05", roster)]
        ControlPublisher(settings).publish_now(notices)
        wait_until(lambda: ds.versions.get("gallery.available") == "2"
                   and ds.versions.get("roster.available") == "2026-09-05", 30, msg="packages installed")
        assert gallery.meta.version == "2"
        assert sorted(gallery.student_ids) == ["094207000001", "094207000002", "094207000003"]
        assert (tmp_path / "edge" / "roster.json").read_text() == roster.read_text()
        # a package altered on the server after it was announced is refused; the live gallery stays
        v3 = tmp_path / "v3.npz"
        Gallery(emb, ids, GalleryMeta(meta.model_name, meta.model_sha256, "3")).save(v3)
        notice = publish_package(settings, school, key, "gallery.available", "3", v3)
        served = Path(settings.packages_dir) / school / "gallery.available" / "3"
        served.write_bytes(served.read_bytes()[:-10] + b"0123456789")
        ControlPublisher(settings).publish_now([notice])
        wait_until(lambda: ds.errors, 30, msg="refusal")
        assert "does not match" in ds.errors[-1]
        assert gallery.meta.version == "2" and "094207000000" not in gallery
    finally:
        link.stop()
        ds.stop()


def test_sealed_package_from_enroll_export_is_opened_with_the_gallery_key(tmp_path, broker, central, enrolled):
    """The central server only relays the package `enroll export` sealed; the edge opens it with its gallery key,
    and refuses one sealed for another school."""
    import os

    from edge_agent.recognition.gallery_package import build_package

    sessions, settings, url = central
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    emb, ids, _, meta = enrolled
    gallery_key = os.urandom(32)
    gallery = Gallery(emb, ids, meta)
    opener = GalleryOpener(school, gallery_key)
    ds = Downsync(DownsyncSettings(school=school, key_hex=key.hex(), central_url=url, data_dir=tmp_path / "edge"),
                  gallery, open_gallery=opener, permanent_errors=opener.permanent_errors)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    keep = [i for i, s in enumerate(ids) if s != "094207000001"]

    def sealed(for_school: str, version: int) -> Path:
        path = tmp_path / f"{for_school}-{version}.pkg"
        path.write_bytes(build_package(for_school, gallery_key, embeddings=emb[keep],
                                       student_ids=[ids[i] for i in keep], class_ids=["10A1"] * len(keep),
                                       model_name=meta.model_name,
                                       model_sha256=meta.model_sha256, gallery_version=version,
                                       created_at="2026-11-29T08:00:00+07:00"))
        return path

    ds.start()
    link = RunningLink(link_settings(site, broker.port, "pw"), on_control=ds.handle)
    assert link.link.wait_connected(10)
    try:
        ControlPublisher(settings).publish_now([publish_package(settings, school, key, "gallery.available", "5",
                                                                sealed(school, 5))])
        wait_until(lambda: ds.versions.get("gallery.available") == "5", 30, msg="sealed package installed")
        assert "094207000001" not in gallery and "094207000000" in gallery
        ControlPublisher(settings).publish_now([publish_package(settings, school, key, "gallery.available", "6",
                                                                sealed("OTHER-SCHOOL", 6))])
        wait_until(lambda: ds.errors, 30, msg="refusal of another school's package")
        assert "belongs to school 'OTHER-SCHOOL'" in ds.errors[-1]
        assert ds.versions["gallery.available"] == "5" and "094207000000" in gallery
    finally:
        link.stop()
        ds.stop()
