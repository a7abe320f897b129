"""Content-addressed storage on local disk and on a real S3-compatible server (moto's S3 server over HTTP),
and the all-or-nothing attach: a failed commit leaves neither a row nor a new blob."""

from __future__ import annotations

import hashlib
import io
import socket

import pytest
from sqlalchemy import func, select

from central_server.library import service
from central_server.library.filetypes import UploadError
from central_server.library.storage import BlobNotFound, LocalBlobStore, S3BlobStore, sha256_file
from central_server.library.tables import LibraryFile
from central_server.library.uploads import stage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def s3_store(tmp_path):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        store = S3BlobStore("thu-vien", endpoint_url=f"http://127.0.0.1:{port}", access_key="test",
                            secret_key="test", spool=tmp_path)
        store.client.create_bucket(Bucket="thu-vien")
        yield store
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return request.getfixturevalue("s3_store")


def test_blob_store_contract(any_store, tmp_path):
    data = "Sách giáo khoa điện tử".encode() * 1000
    sha = hashlib.sha256(data).hexdigest()
    src = any_store.spool_dir() / "upload.bin"
    src.write_bytes(data)
    assert sha256_file(src) == sha
    assert any_store.put_file(src, sha) is True and not src.exists()
    again = any_store.spool_dir() / "again.bin"
    again.write_bytes(data)
    assert any_store.put_file(again, sha) is False and not again.exists()  # stored once
    assert any_store.exists(sha)
    with any_store.open(sha) as f:
        assert f.read() == data
    assert b"".join(any_store.iter_chunks(sha)) == data
    assert any_store.put_bytes(b"thumb") == hashlib.sha256(b"thumb").hexdigest()
    any_store.delete(sha)
    assert not any_store.exists(sha)
    with pytest.raises(BlobNotFound):
        any_store.open(sha)
    with pytest.raises(ValueError):
        any_store.exists("../../etc/passwd")


def test_stage_refuses_oversize_stream_and_leaves_no_spool_file(store, lib_settings):
    limits = service.limits_from(lib_settings, max_bytes=1000)
    with pytest.raises(UploadError) as err:
        stage(store, io.BytesIO(b"%PDF-" + b"0" * 5000), "a.pdf", limits)
    assert err.value.status_code == 413
    assert list(store.spool_dir().iterdir()) == []


def test_failed_commit_removes_the_new_blob(db, make_user, new_item, store, lib_settings, samples):
    teacher = make_user("gv_x", "teacher", school_id=1)
    item = service.create_item(db, new_item(), teacher)
    db.commit()
    staged = stage(store, io.BytesIO(samples["docx"](["nội dung"])), "a.docx", service.limits_from(lib_settings))
    item.grade = 99  # violates the grade check constraint: the commit inside attach_file fails for real
    with pytest.raises(Exception, match="(?i)check|constraint"):
        service.attach_file(db, store, item, staged, teacher)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(LibraryFile)) == 0
    assert not store.exists(staged.sha256)
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_upload_through_app_onto_s3(client, bearer_for, people, samples, lib_app, s3_store, drain, db):
    lib_app.state.library.store = s3_store
    t = bearer_for(people["teacher"])
    item = client.post("/api/library/items", json={"title": "Bản đồ Sóc Trăng", "subject_code": "dia-li"},
                       headers=t).json()
    docx = samples["docx"](["Bản đồ hành chính Sóc Trăng"])
    r = client.post(f"/api/library/items/{item['id']}/file", files={"file": ("ban-do.docx", docx)}, headers=t)
    assert r.status_code == 201
    assert s3_store.exists(r.json()["sha256"])
    assert drain() == 1
    row = db.get(LibraryFile, r.json()["sha256"])
    db.refresh(row)
    assert row.ingest_state == "done" and "hành chính" in row.text
