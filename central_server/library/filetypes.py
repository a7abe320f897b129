"""Upload checks: the file's real type from its bytes (not its name), size limits, zip bombs, corrupt files.

Accepted: PDF, EPUB, MP4, PPTX, DOCX, images (PNG, JPEG, GIF, WebP) and ZIP packages of HTML5 content.
Every refusal is an UploadError whose message (Vietnamese) tells the uploader what was wrong.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError


class UploadError(ValueError):
    def __init__(self, message: str, status_code: int = 422):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class FileKind:
    mime: str
    ext: str
    label: str


PDF = FileKind("application/pdf", "pdf", "PDF")
EPUB = FileKind("application/epub+zip", "epub", "EPUB")
MP4 = FileKind("video/mp4", "mp4", "Video MP4")
PPTX = FileKind("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx", "PowerPoint")
DOCX = FileKind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "Word")
HTML5 = FileKind("application/zip", "zip", "Gói HTML5 (ZIP)")
IMAGES = {
    "PNG": FileKind("image/png", "png", "Ảnh PNG"),
    "JPEG": FileKind("image/jpeg", "jpg", "Ảnh JPEG"),
    "GIF": FileKind("image/gif", "gif", "Ảnh GIF"),
    "WEBP": FileKind("image/webp", "webp", "Ảnh WebP"),
}
ACCEPTED_LABEL = "PDF, EPUB, MP4, PPTX, DOCX, ảnh (PNG, JPEG, GIF, WebP) hoặc gói HTML5 nén ZIP"


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_unzipped_bytes: int
    max_zip_entries: int
    max_zip_ratio: int


def detect(path: Path, filename: str, limits: Limits) -> FileKind:
    """The checked type of an uploaded file, or UploadError."""
    size = path.stat().st_size
    if size == 0:
        raise UploadError("Tệp rỗng (0 byte)")
    if size > limits.max_bytes:
        raise UploadError(f"Tệp quá lớn: {size:,} byte, tối đa {limits.max_bytes:,} byte", 413)
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"%PDF-"):
        return _check_pdf(path)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return MP4
    if head.startswith(b"PK\x03\x04"):
        return _check_zip(path, limits)
    image = _check_image(path, head)
    if image:
        return image
    suffix = PurePosixPath(filename or "").suffix.lower() or "(không có đuôi)"
    raise UploadError(f"Định dạng tệp không được chấp nhận ({suffix}). Chỉ nhận: {ACCEPTED_LABEL}", 415)


def _check_pdf(path: Path) -> FileKind:
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            raise UploadError("Tệp PDF có mật khẩu; hãy tải lên bản không khoá")
        if len(reader.pages) == 0:
            raise UploadError("Tệp PDF không có trang nào")
    except UploadError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise UploadError(f"Tệp PDF bị hỏng, không đọc được: {exc}") from exc
    return PDF


def _check_image(path: Path, head: bytes) -> FileKind | None:
    signatures = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
    if not (head.startswith(signatures) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
        return None
    try:
        with Image.open(path) as img:
            fmt = img.format
            if img.width * img.height > 100_000_000:
                raise UploadError("Ảnh quá lớn (trên 100 triệu điểm ảnh)")
            img.verify()
    except UploadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadError(f"Tệp ảnh bị hỏng: {exc}") from exc
    if fmt not in IMAGES:
        raise UploadError(f"Định dạng ảnh {fmt} không được chấp nhận", 415)
    return IMAGES[fmt]


def _check_zip(path: Path, limits: Limits) -> FileKind:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_archive(infos, path.stat().st_size, limits)
            names = {i.filename for i in infos}
            if "mimetype" in names and zf.read("mimetype").strip() == b"application/epub+zip":
                return EPUB
            if "[Content_Types].xml" in names:
                if any(n.startswith("ppt/") for n in names):
                    return PPTX
                if any(n.startswith("word/") for n in names):
                    return DOCX
                raise UploadError("Tệp Office này không phải PPTX hay DOCX", 415)
            if any(PurePosixPath(n).name.lower() == "index.html" and n.count("/") <= 1 for n in names):
                return HTML5
    except UploadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError) as exc:
        raise UploadError(f"Tệp nén bị hỏng: {exc}") from exc
    raise UploadError("Tệp ZIP không phải gói HTML5 (thiếu index.html), EPUB, PPTX hay DOCX", 415)


def _check_archive(infos: list[zipfile.ZipInfo], compressed_size: int, limits: Limits) -> None:
    """Refuse zip bombs and path tricks before anything reads the members."""
    if len(infos) > limits.max_zip_entries:
        raise UploadError(f"Tệp nén có quá nhiều mục ({len(infos):,}), tối đa {limits.max_zip_entries:,}")
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith("/") or ".." in PurePosixPath(name).parts or "\\" in name:
            raise UploadError(f"Tệp nén chứa đường dẫn không an toàn: {name!r}")
        if info.filename.lower().endswith((".zip", ".epub", ".docx", ".pptx")) and info.file_size > 0:
            if info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio:
                raise UploadError("Tệp nén lồng nhau có tỉ lệ nén bất thường (nghi ngờ zip bomb)")
        total += info.file_size
        if total > limits.max_unzipped_bytes:
            raise UploadError(
                f"Tệp nén khi giải nén vượt {limits.max_unzipped_bytes:,} byte (nghi ngờ zip bomb)"
            )
    if compressed_size and total / compressed_size > limits.max_zip_ratio:
        raise UploadError(
            f"Tỉ lệ nén {total / compressed_size:.0f}:1 vượt mức cho phép {limits.max_zip_ratio}:1 (nghi ngờ zip bomb)"
        )
