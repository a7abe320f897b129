"""The school's secret keys on the edge box: the event-signing (HMAC-SHA256) key and the gallery-package key.

Both are 32 random bytes stored as hex in files readable only by the service user (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

EVENT_KEY = "event-hmac.key"
GALLERY_KEY = "gallery-aes.key"


class KeyError_(RuntimeError):
    """A key file is missing or malformed; the message says how to fix it."""


def write_keys(keys_dir: Path, *, overwrite: bool = False) -> dict[str, Path]:
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    out = {}
    for name in (EVENT_KEY, GALLERY_KEY):
        path = keys_dir / name
        if path.exists() and not overwrite:
            raise KeyError_(f"{path} đã có (already exists); khoá không bao giờ bị thay âm thầm "
                            "(dùng --force để thay khoá)")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        os.chmod(path, 0o600)
        out[name] = path
    return out


def read_key(keys_dir: Path, name: str = EVENT_KEY) -> bytes:
    path = keys_dir / name
    try:
        text = path.read_text().strip()
        key = bytes.fromhex(text)
    except FileNotFoundError:
        raise KeyError_(f"{path}: thiếu tệp khoá (key file missing); chạy `edge-agent init --school MÃ_TRƯỜNG` "
                        "trên máy này") from None
    except ValueError:
        raise KeyError_(f"{path}: tệp khoá hỏng (not a hex key); khôi phục từ bản lưu khoá của Sở") from None
    if len(key) < 32:
        raise KeyError_(f"{path}: khoá quá ngắn ({len(key)} byte, cần 32)")
    return key
