"""The library through the real app (SQLite and PostgreSQL): metadata, uploads, ingest, appraisal, visibility."""

from __future__ import annotations

from sqlalchemy import func, select

from central_server.library.tables import LibraryFile, LibraryItem, LibraryReview

META = {"title": "Lịch sử Việt Nam – Bài 3: Nhà Lý", "creators": ["Trần Thị Giáo Viên"], "subject_code": "lich-su",
        "grade": 10, "material_type": "bai-giang", "language": "vi", "licence": "cc-by-sa-4.0",
        "topic": "Chủ đề 3: Văn minh Đại Việt", "national_id": "HLQG-2025-000123",
        "national_url": "https://igiaoduc.vn/hoc-lieu/HLQG-2025-000123"}


def _create(client, headers, **overrides) -> dict:
    r = client.post("/api/library/items", json={**META, **overrides}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _upload(client, headers, item_id, name, data):
    return client.post(f"/api/library/items/{item_id}/file", files={"file": (name, data)}, headers=headers)


def _act(client, headers, item_id, action, comment=""):
    return client.post(f"/api/library/items/{item_id}/actions", json={"action": action, "comment": comment},
                       headers=headers)


def test_appraisal_workflow_and_visibility(client, bearer_for, people, samples, drain, db):
    t, rv = bearer_for(people["teacher"]), bearer_for(people["reviewer"])
    item = _create(client, t)
    assert item["status"] == "draft" and item["school_id"] == 1
    # cannot submit without a file; then upload a real PDF whose text becomes searchable after ingest
    assert _act(client, t, item["id"], "submit").status_code == 409
    pdf = samples["pdf"](["Trieu dai nha Ly doi do ve Thang Long nam 1010"])
    r = _upload(client, t, item["id"], "bai3.pdf", pdf)
    assert r.status_code == 201 and r.json()["mime"] == "application/pdf" and r.json()["ingest_state"] == "queued"
    assert drain() == 1
    row = db.get(LibraryFile, r.json()["sha256"])
    db.refresh(row)
    assert row.ingest_state == "done" and "Thang Long" in row.text and row.pages == 1 and row.thumb_sha256
    # students (anonymous) do not see drafts
    assert client.get(f"/api/library/items/{item['id']}").status_code == 404
    assert client.get("/api/library/items", params={"q": "thang long"}).json()["total"] == 0
    assert _act(client, t, item["id"], "submit").status_code == 200
    # the author may not appraise; approving needs a reviewer role and a comment
    assert _act(client, t, item["id"], "approve", "tự duyệt").status_code == 409
    assert _act(client, rv, item["id"], "approve").status_code == 409
    r = _act(client, rv, item["id"], "approve", "Nội dung chính xác, đúng chương trình GDPT 2018")
    assert r.status_code == 200 and r.json()["status"] == "appraised"
    assert r.json()["reviewer_name"] == "Lê Văn Thẩm Định"
    assert client.get(f"/api/library/items/{item['id']}").status_code == 404  # appraised is not yet published
    assert _act(client, rv, item["id"], "publish").json()["status"] == "published"
    # now public, found by words of the extracted PDF text, with or without accents
    assert client.get(f"/api/library/items/{item['id']}").json()["national_id"] == "HLQG-2025-000123"
    for q in ("thang long", "Thăng Long", "nha ly", "Nhà Lý"):
        assert [i["id"] for i in client.get("/api/library/items", params={"q": q}).json()["items"]] == [item["id"]]
    dl = client.get(f"/api/library/items/{item['id']}/download")
    assert dl.status_code == 200 and dl.content == pdf
    # withdrawal needs a reason and leaves the item hidden (a tombstone for harvesters)
    assert _act(client, rv, item["id"], "withdraw").status_code == 409
    assert _act(client, rv, item["id"], "withdraw", "Sai bản quyền hình ảnh").json()["status"] == "withdrawn"
    assert client.get(f"/api/library/items/{item['id']}").status_code == 404
    actions = db.scalars(select(LibraryReview.action).where(LibraryReview.item_id == item["id"])
                         .order_by(LibraryReview.id)).all()
    assert actions == ["submit", "approve", "publish", "withdraw"]


def test_permissions(client, bearer_for, people, samples):
    t, t2, sa = bearer_for(people["teacher"]), bearer_for(people["teacher2"]), bearer_for(people["school_admin"])
    item = _create(client, t)
    # a teacher of another school can neither see nor change the draft; the school's admin can edit it
    assert client.get(f"/api/library/items/{item['id']}", headers=t2).status_code == 404
    assert client.put(f"/api/library/items/{item['id']}", json={**META, "title": "x"}, headers=t2).status_code == 404
    r = client.put(f"/api/library/items/{item['id']}", json={**META, "title": "Bài 3 (sửa)"}, headers=sa)
    assert r.status_code == 200 and r.json()["title"] == "Bài 3 (sửa)"
    # teachers cannot list unpublished items nor read statistics; the API needs a login to create
    assert client.get("/api/library/items", params={"status": "submitted"}, headers=t).status_code == 403
    assert client.get("/api/library/stats", headers=t).status_code == 403
    assert client.post("/api/library/items", json=META).status_code == 401
    # invalid metadata gets a clear error
    r = client.post("/api/library/items", json={**META, "grade": 9, "language": "fr"}, headers=t)
    assert r.status_code == 422 and len(r.json()["errors"]) == 2


def _nothing_written(db, store, item_id) -> None:
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(LibraryFile)) == 0
    assert db.get(LibraryItem, item_id).file_sha256 is None
    blobs = [p for p in store.root.rglob("*") if p.is_file()]
    assert blobs == [], blobs


def test_bad_uploads_are_refused_and_nothing_is_written(client, bearer_for, people, samples, db, lib_app):
    t = bearer_for(people["teacher"])
    item = _create(client, t)
    store = lib_app.state.library.store
    good_pdf = samples["pdf"](["x"])
    cases = [
        ("virus.exe", b"MZ\x90\x00" + b"\0" * 200, 415, "không được chấp nhận"),
        ("notes.txt", "Bài học lịch sử".encode(), 415, "không được chấp nhận"),
        ("empty.pdf", b"", 422, "rỗng"),
        ("big.mp4", samples["mp4"]() + b"\0" * 2_100_000, 413, "quá lớn"),
        ("corrupt.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 100, 422, "PDF bị hỏng"),
        ("cut.pdf", good_pdf[: len(good_pdf) // 3], 422, "PDF bị hỏng"),
        ("bomb.zip", samples["bomb"](4_000_000), 422, "zip bomb"),
        ("broken.zip", b"PK\x03\x04" + b"\x00" * 100, 422, "hỏng"),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 422, "ảnh bị hỏng"),
    ]
    for name, data, status, words in cases:
        r = _upload(client, t, item["id"], name, data)
        assert r.status_code == status, (name, r.status_code, r.text)
        assert words in r.json()["detail"], (name, r.json())
        _nothing_written(db, store, item["id"])


def test_every_accepted_type_is_detected_and_ingested(client, bearer_for, people, samples, drain, db):
    t = bearer_for(people["teacher"])
    cases = {
        "giao-an.docx": (samples["docx"](["Lịch sử địa phương Sóc Trăng", "Chùa Dơi"]),
                         "wordprocessingml", "Chùa Dơi"),
        "slides.pptx": (samples["pptx"](["Đường tròn lượng giác", "Bài tập"]), "presentationml", "lượng giác"),
        "sach.epub": (samples["epub"]("Truyện Kiều – Nguyễn Du"), "epub", "Nguyễn Du"),
        "mo-phong.zip": (samples["html5"]("Mô phỏng con lắc đơn"), "application/zip", "con lắc"),
        "ban-do.png": (samples["png"](), "image/png", ""),
        "video.mp4": (samples["mp4"](), "video/mp4", ""),
    }
    ids = {}
    for name, (data, mime_part, _) in cases.items():
        item = _create(client, t, title=f"Tệp {name}")
        r = _upload(client, t, item["id"], name, data)
        assert r.status_code == 201 and mime_part in r.json()["mime"], (name, r.text)
        ids[name] = r.json()["sha256"]
    assert drain() == len(cases)
    for name, (_, _, text) in cases.items():
        row = db.get(LibraryFile, ids[name])
        db.refresh(row)
        assert row.ingest_state == "done", (name, row.ingest_error)
        assert text in row.text, (name, row.text[:200])
    png = db.get(LibraryFile, ids["ban-do.png"])
    assert png.thumb_sha256  # thumbnails for images (and PDFs, see the workflow test)


def test_same_file_twice_is_stored_once(client, bearer_for, people, samples, db, lib_app):
    t = bearer_for(people["teacher"])
    data = samples["docx"](["Một nội dung"])
    a, b = _create(client, t), _create(client, t, title="Bản sao")
    ra, rb = _upload(client, t, a["id"], "a.docx", data), _upload(client, t, b["id"], "b.docx", data)
    assert ra.json()["sha256"] == rb.json()["sha256"]
    assert db.scalar(select(func.count()).select_from(LibraryFile)) == 1
    blobs = [p for p in lib_app.state.library.store.root.rglob("*") if p.is_file()]
    assert len(blobs) == 1


def test_usage_statistics(client, bearer_for, people, samples, db):
    t, rv = bearer_for(people["teacher"]), bearer_for(people["reviewer"])
    item = _create(client, t)
    _upload(client, t, item["id"], "a.pdf", samples["pdf"](["abc"]))
    for action, comment in (("submit", ""), ("approve", "Đạt"), ("publish", "")):
        assert _act(client, rv if action != "submit" else t, item["id"], action, comment).status_code == 200
    for _ in range(3):
        assert client.get(f"/library/items/{item['id']}").status_code == 200
    for _ in range(2):
        assert client.get(f"/api/library/items/{item['id']}/download").status_code == 200
    stats = client.get("/api/library/stats", headers=rv).json()
    assert stats["by_item"] == [{"id": item["id"], "title": META["title"], "school_name": "Trường #1",
                                 "views": 3, "downloads": 2}]
    assert stats["by_school"][0]["views"] == 3 and stats["by_school"][0]["downloads"] == 2
    assert stats["by_status"] == {"published": 1}


def test_background_worker_ingests_after_upload(client, bearer_for, people, samples, lib_app, db):
    import time

    rt = lib_app.state.library
    rt.settings.ingest_worker = True  # the production path: the upload wakes the worker thread
    t = bearer_for(people["teacher"])
    item = _create(client, t)
    r = _upload(client, t, item["id"], "a.docx", samples["docx"](["Sinh học tế bào lớp 10"]))
    assert r.status_code == 201
    deadline = time.monotonic() + 30
    while True:
        db.expire_all()
        row = db.get(LibraryFile, r.json()["sha256"])
        if row.ingest_state in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    rt.close()
    assert row.ingest_state == "done" and "tế bào" in row.text
    hits = client.get("/api/library/items", params={"q": "te bao", "status": "draft"},
                      headers=bearer_for(people["reviewer"])).json()
    assert [i["id"] for i in hits["items"]] == [item["id"]]
