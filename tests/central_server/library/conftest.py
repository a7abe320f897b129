"""Fixtures for the library suites: blob storage in tmp, real sample files of every accepted type, items."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest

from central_server.library.config import LibrarySettings
from central_server.library.schemas import ItemIn
from central_server.library.storage import LocalBlobStore


@pytest.fixture()
def lib_settings(tmp_path) -> LibrarySettings:
    return LibrarySettings(_env_file=None, storage_dir=tmp_path / "library", max_upload_bytes=2_000_000,
                           max_unzipped_bytes=5_000_000, oai_page_size=10, ingest_worker=False,
                           base_url="http://testserver")


@pytest.fixture()
def store(lib_settings) -> LocalBlobStore:
    return LocalBlobStore(lib_settings.storage_dir / "blobs")


def make_pdf(lines: list[str]) -> bytes:
    """A real, minimal one-page PDF (Helvetica, ASCII text) with a correct xref table."""
    content = "BT /F1 14 Tf 72 720 Td 18 TL " + " ".join(
        "(" + ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for ln in lines
    ) + " ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content.encode("latin-1") + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def make_docx(paragraphs: list[str]) -> bytes:
    from docx import Document

    doc = Document()
    for p in paragraphs:
        doc.add_paragraph(p)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def make_pptx(slides: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"/>')
        for i, text in enumerate(slides, 1):
            zf.writestr(f"ppt/slides/slide{i}.xml",
                        '<?xml version="1.0" encoding="UTF-8"?><p:sld xmlns:p="http://schemas.openxmlformats.org/'
                        'presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
                        f"<p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody>"
                        "</p:sp></p:spTree></p:cSld></p:sld>")
    return buf.getvalue()


def make_html5_zip(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("index.html", f"<!doctype html><html><body><h1>{body}</h1><script>var x=1;</script></body></html>")
        zf.writestr("js/app.js", "console.log('mo phong');")
    return buf.getvalue()


def make_epub(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", "<container/>")
        zf.writestr("OEBPS/ch1.xhtml", f"<html><body><p>{body}</p></body></html>")
    return buf.getvalue()


def make_png(size: tuple[int, int] = (640, 480)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def make_mp4() -> bytes:
    # an ISO base-media header: ftyp box (brand isom) followed by an empty mdat box
    ftyp = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41"
    return ftyp + b"\x00\x00\x00\x08mdat"


def make_zip_bomb(unpacked: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("index.html", b"\0" * unpacked)
    return buf.getvalue()


@pytest.fixture()
def samples() -> dict[str, Callable[..., bytes]]:
    return {"pdf": make_pdf, "docx": make_docx, "pptx": make_pptx, "html5": make_html5_zip, "epub": make_epub,
            "png": make_png, "mp4": make_mp4, "bomb": make_zip_bomb}


def item_in(**fields) -> ItemIn:
    base = dict(title="Học liệu", creators=["Nguyễn Văn A"], subject_code="lich-su", grade=10,
                material_type="bai-giang", language="vi", licence="cc-by-4.0")
    base.update(fields)
    return ItemIn(**base)


@pytest.fixture()
def new_item() -> Callable[..., ItemIn]:
    """new_item(**fields) -> ItemIn with sensible defaults (a grade-10 history lecture, CC BY)."""
    return item_in


@pytest.fixture()
def settings(db_url):
    """Only the modules the library needs, so that other modules' work in progress cannot break these tests."""
    from tests.central_server.conftest import make_settings

    return make_settings(db_url, modules=["core", "masterdata", "library"])


@pytest.fixture()
def lib_app(app, lib_settings):
    """The real app with the library runtime on tmp storage (the ingest queue is drained by the test)."""
    from central_server.library.runtime import configure

    runtime = configure(app, lib_settings)
    yield app
    runtime.close()


@pytest.fixture()
def drain(lib_app) -> Callable[[], int]:
    """Run the ingest queue to empty, as the background worker would; returns how many files it processed."""
    from central_server.library.ingest_queue import drain as _drain

    rt = lib_app.state.library
    return lambda: _drain(lib_app.state.sessionmaker, rt.store, rt.settings.max_extracted_chars)


@pytest.fixture()
def people(lib_app, make_user):
    """A teacher and a school admin at school 1, a teacher at school 2, a province reviewer and an admin."""
    return {
        "teacher": make_user("gv_lichsu", "teacher", school_id=1, full_name="Trần Thị Giáo Viên"),
        "school_admin": make_user("ql_truong1", "school_admin", school_id=1),
        "teacher2": make_user("gv_truong2", "teacher", school_id=2),
        "reviewer": make_user("cb_thamdinh", "province_staff", full_name="Lê Văn Thẩm Định"),
        "admin": make_user("qt_so", "province_admin"),
    }


@pytest.fixture()
def live_url(lib_app):
    """The app served by a real uvicorn on a free loopback port (for sickle and Chromium)."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(lib_app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
