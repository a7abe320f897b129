"""Upload bombs (issue 15 item 3): every parser bounded, bodies refused while streaming, a Vietnamese 4xx, nothing
written, memory bounded. Built on the spot: a sparse-dimension .xlsx (A1:XFD1048576, a value at row 1,048,576),
a whitespace bomb (~0.5 MB -> 500 MB), a zip bomb, a corrupt sheet, and oversize bodies sent chunked."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import tracemalloc

import pytest
from sqlalchemy import func, select

from central_server.admissions.plan import parse_plan
from central_server.admissions.scores_import import read_scores
from central_server.core.uploads import UploadLimits, UploadRejected, Workbook
from central_server.masterdata.service import create_school
from central_server.masterdata.tables import ImportBatch, Student
from tests.central_server.admissions.conftest import small_plan_dict
from tests.central_server.core.upload_bombs import corrupt_sheet, sparse_dimension, whitespace_bomb, zip_bomb

HEAD = ["STT", "Họ tên (*)", "Ngày sinh", "Giới tính", "Mã lớp", "Số định danh cá nhân"]
BOMBS = {
    "sparse_dimension": (lambda: sparse_dimension(HEAD), 413, "vượt giới hạn"),
    "whitespace": (lambda: whitespace_bomb(HEAD, 500), 413, "giải nén vượt quá"),
    "zip": (lambda: zip_bomb(300), 413, "giải nén vượt quá"),
    "corrupt": (lambda: corrupt_sheet(HEAD, [1, "Lâm Văn Bình", "05/09/2009", "Nam", "10A1", "094207000002"]),
                422, "Không đọc được tệp Excel"),
}


@pytest.fixture()
def school_admin(db, make_user):
    school = create_school(db, "94000701", "THPT Hoàng Diệu")
    db.commit()
    return school, make_user("admin_a", "school_admin", school_id=school.id)


@pytest.mark.parametrize("name", list(BOMBS))
def test_masterdata_import_refuses_bomb_fast_bounded_nothing_written(name, client_for, db, school_admin):
    school, user = school_admin
    make, status, needle = BOMBS[name]
    data = make()
    assert len(data) < 600 * 1024  # each bomb is small on the wire
    client = client_for(user)
    tracemalloc.start()
    try:
        r = client.post(f"/api/masterdata/schools/{school.id}/imports", data={"school_year": "2025-2026"},
                        files={"file": ("hs.xlsx", data, "application/octet-stream")})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
    assert peak < 64 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"  # the 500 MB bomb is never inflated
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0
    assert db.scalar(select(func.count()).select_from(Student)) == 0


def test_declared_dimension_is_ignored_and_blank_rows_count_against_the_sheet():
    """The real rows of a file that declares A1:XFD1048576 are read (a few columns wide, not 16,384)."""
    with pytest.raises(UploadRejected) as exc:
        with Workbook(sparse_dimension(HEAD), UploadLimits(max_row_index=1_000)) as wb:
            rows = [r for ws in wb.sheets() for r in wb.rows(ws)]
    assert exc.value.status == 413 and "1.001" in str(exc.value)
    with Workbook(sparse_dimension(HEAD, far_row=5_000), UploadLimits(max_row_index=10_000)) as wb:
        rows = [r for ws in wb.sheets() for r in wb.rows(ws)]
    assert [n for n, _ in rows] == [1, 5_000]
    assert all(len(values) == 200 for _, values in rows)  # bounded columns, not XFD's 16,384


def test_too_many_rows_and_long_cells_refused():
    from tests.central_server.core.upload_bombs import _xlsx

    with pytest.raises(UploadRejected, match="quá 3 dòng"):
        with Workbook(_xlsx([["a"]] * 5), UploadLimits(max_rows=3)) as wb:
            list(wb.rows(wb.sheets()[0]))
    with pytest.raises(UploadRejected, match="Dòng 2: một ô dài quá 100 ký tự"):
        with Workbook(_xlsx([["a"], ["x" * 101]]), UploadLimits(max_cell_chars=100)) as wb:
            list(wb.rows(wb.sheets()[0]))


def test_corrupt_scores_sheet_is_one_clear_error():
    plan = parse_plan(small_plan_dict())
    preview = read_scores(plan, corrupt_sheet(["Số báo danh", "Ngữ văn", "Toán", "Tiếng Anh"], ["000001", 7, 8, 9]))
    assert not preview.ok and preview.rows == []
    assert preview.errors == ["Không đọc được tệp Excel (ParseError)."]
    preview = read_scores(plan, sparse_dimension(["Số báo danh", "Ngữ văn", "Toán", "Tiếng Anh"]))
    assert not preview.ok and "vượt giới hạn" in preview.errors[0]


def _asgi_post(app, path: str, headers: dict[str, str], parts) -> tuple[int, dict, int]:
    """POST to the ASGI app itself, the body as a stream of chunks (no Content-Length, like chunked transfer):
    (status, JSON body, bytes the server pulled from the stream)."""
    pulled = {"bytes": 0}
    it = iter(parts)
    sent: list[dict] = []

    async def receive():
        chunk = next(it, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled["bytes"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled["bytes"]


def _multipart_chunks(total: int, chunk: int = 256 * 1024):
    boundary = "----bomb"
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.pdf\"\r\n"
           "Content-Type: application/pdf\r\n\r\n").encode()
    for _ in range(total // chunk):
        yield b"\0" * chunk
    yield f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.parametrize("path", ["/signature/verify", "/api/masterdata/schools/1/imports",
                                  "/api/library/marc/import"])
def test_oversize_chunked_body_refused_while_streaming(path, app, bearer_for, make_user, tmp_path, monkeypatch):
    """A 400 MB body sent chunked is refused once it passes the limit: the server pulls no more of it, answers
    413 in Vietnamese, and leaves no spooled file behind."""
    from central_server.core.uploads import body_limit_for

    headers = {"content-type": "multipart/form-data; boundary=----bomb", "accept": "application/json",
               **bearer_for(make_user("so_admin", "province_admin"))}
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where the form parser would spool the file
    status, body, pulled = _asgi_post(app, path, headers, _multipart_chunks(400 * 1024 * 1024))
    assert status == 413, body
    assert "vượt quá giới hạn" in body["detail"]
    assert pulled <= body_limit_for(app, path) + 256 * 1024  # stopped at the limit, not 400 MB later
    assert os.listdir(spool) == []


def test_declared_oversize_body_refused_before_reading(app, client_for, make_user):
    client = client_for(make_user("so_admin", "province_admin"))
    big = b"\0" * (app.state.settings.max_upload_bytes + 512 * 1024)
    r = client.post("/signature/verify", files={"file": ("x.pdf", big, "application/pdf")},
                    headers={"accept": "application/json"})
    assert r.status_code == 413 and "vượt quá giới hạn" in r.json()["detail"]


def test_library_file_route_keeps_its_own_larger_limit(app):
    from central_server.core.uploads import body_limit_for

    if "library" not in app.state.modules:
        pytest.skip("library module not loaded")
    assert body_limit_for(app, "/api/library/items/7/file") == app.state.library.settings.max_upload_bytes + 256 * 1024
    assert body_limit_for(app, "/api/library/items/7") == app.state.settings.max_upload_bytes + 256 * 1024


def test_application_form_allows_its_evidence_files(app):
    from central_server.core.uploads import body_limit_for

    if "admissions" not in app.state.modules:
        pytest.skip("admissions module not loaded")
    s = app.state.adm_settings
    assert body_limit_for(app, "/tuyen-sinh/dang-ky") == s.max_evidence_files * s.max_evidence_bytes + 256 * 1024
    assert body_limit_for(app, "/tuyen-sinh/tra-cuu") == app.state.settings.max_upload_bytes + 256 * 1024
