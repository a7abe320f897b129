"""Content-Disposition for downloads whose names carry user data (class codes such as `10Văn` or `10/A2`).

HTTP headers are Latin-1: a Vietnamese name goes in RFC 5987/6266 `filename*` (UTF-8, percent-encoded) with an
ASCII `filename` fallback for old clients. Path separators and characters that Windows refuses in file names
become "-", so the saved file keeps its name on every system.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|;]+')
_NOT_ASCII_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_DD = str.maketrans({"đ": "d", "Đ": "D"})


def safe_filename(name: str) -> str:
    """The name without path separators, control characters or characters Windows refuses (NFC)."""
    cleaned = _UNSAFE.sub("-", unicodedata.normalize("NFC", name)).strip(" .-")
    return cleaned[:200] or "tep"


def ascii_filename(name: str) -> str:
    """An ASCII fallback: Vietnamese letters without their marks (đ -> d), anything else "-"."""
    base = unicodedata.normalize("NFKD", safe_filename(name).translate(_DD))
    base = "".join(ch for ch in base if not unicodedata.combining(ch))
    return _NOT_ASCII_NAME.sub("-", base).strip(" .-") or "tep"


def attachment(name: str) -> str:
    """The Content-Disposition value for downloading `name` (any Unicode text)."""
    safe = safe_filename(name)
    fallback = ascii_filename(safe)
    if fallback == safe:
        return f'attachment; filename="{safe}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(safe, safe='')}"
