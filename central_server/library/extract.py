"""Text extraction (for search) and thumbnails, run by the background ingest queue, never in the upload request.

Every member read from an archive is capped, so a lying zip header cannot blow up memory.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from docx import Document
from PIL import Image
from pypdf import PdfReader

THUMB_SIZE = (320, 320)
_MEMBER_CAP = 32 * 1024 * 1024
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_SPACES = re.compile(r"\s+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class ExtractError(ValueError):
    pass


@dataclass
class Extracted:
    text: str
    pages: int | None = None
    thumbnail_png: bytes | None = None


def extract(path: Path, mime: str, max_chars: int) -> Extracted:
    """Text and a PNG thumbnail (where one can be made) of a stored file."""
    try:
        if mime == "application/pdf":
            return _pdf(path, max_chars)
        if mime.startswith("image/"):
            return Extracted("", thumbnail_png=_image_thumb(path.read_bytes()))
        if mime == "video/mp4":
            return Extracted("")
        with zipfile.ZipFile(path) as zf:
            if mime.endswith("wordprocessingml.document"):
                return Extracted(_clip(_docx_text(zf), max_chars))
            if mime.endswith("presentationml.presentation"):
                return Extracted(*_pptx(zf, max_chars))
            if mime == "application/epub+zip" or mime == "application/zip":
                return _html_package(zf, max_chars)
    except ExtractError:
        raise
    except Exception as exc:  # any parser failure becomes a recorded, readable job error
        raise ExtractError(f"Không trích xuất được nội dung: {type(exc).__name__}: {exc}") from exc
    return Extracted("")


def _clip(text: str, max_chars: int) -> str:
    # NUL and other C0 controls (PDF text streams carry them) are not text and no database column holds NUL.
    return _SPACES.sub(" ", _CONTROLS.sub(" ", text)).strip()[:max_chars]


def _pdf(path: Path, max_chars: int) -> Extracted:
    reader = PdfReader(path, strict=False)
    parts: list[str] = []
    total = 0
    for page in reader.pages:
        chunk = page.extract_text() or ""
        parts.append(chunk)
        total += len(chunk)
        if total >= max_chars:
            break
    return Extracted(_clip("\n".join(parts), max_chars), len(reader.pages), _pdf_thumb(path))


def _pdf_thumb(path: Path) -> bytes | None:
    exe = shutil.which("pdftoppm")
    if not exe:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "thumb"
        cmd = [exe, "-png", "-f", "1", "-l", "1", "-scale-to", str(THUMB_SIZE[0]), "-singlefile", str(path), str(out)]
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        png = out.with_suffix(".png")
        return png.read_bytes() if done.returncode == 0 and png.exists() else None


def _image_thumb(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img.thumbnail(THUMB_SIZE)
        buf = io.BytesIO()
        img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").save(buf, "PNG")
        return buf.getvalue()


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    with zf.open(name) as f:
        data = f.read(_MEMBER_CAP + 1)
    if len(data) > _MEMBER_CAP:
        raise ExtractError(f"Mục {name!r} trong tệp nén quá lớn")
    return data


def _xml_text(data: bytes, tag: str) -> str:
    root = ElementTree.fromstring(data)
    return " ".join(el.text or "" for el in root.iter() if el.tag.endswith("}" + tag))


def _docx_text(zf: zipfile.ZipFile) -> str:
    doc = Document(io.BytesIO(b"".join(_zip_copy(zf))))
    paragraphs = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        paragraphs.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(paragraphs)


def _zip_copy(zf: zipfile.ZipFile):
    # python-docx wants a file; rebuild one from capped member reads so no member is read unbounded.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in zf.infolist():
            out.writestr(info.filename, _read(zf, info.filename))
    yield buf.getvalue()


def _pptx(zf: zipfile.ZipFile, max_chars: int) -> tuple[str, int]:
    slides = sorted(
        (n for n in zf.namelist() if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
        key=lambda n: int(re.search(r"\d+", n.rsplit("/", 1)[1]).group()),
    )
    text = "\n".join(_xml_text(_read(zf, n), "t") for n in slides)
    return _clip(text, max_chars), len(slides)


def _html_package(zf: zipfile.ZipFile, max_chars: int) -> Extracted:
    parts: list[str] = []
    total = 0
    for name in sorted(zf.namelist()):
        if name.lower().endswith((".html", ".htm", ".xhtml")):
            raw = _read(zf, name).decode("utf-8", errors="replace")
            chunk = html.unescape(_TAGS.sub(" ", raw))
            parts.append(chunk)
            total += len(chunk)
            if total >= max_chars:
                break
    return Extracted(_clip("\n".join(parts), max_chars))
