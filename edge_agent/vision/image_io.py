"""Read an image file into a BGR uint8 array, or fail with a clear, per-file message.

Grayscale, 16-bit, float and alpha images are converted; EXIF orientation is applied (phone photos).
Huge images are refused from their header, before any pixel is decoded.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 64_000_000  # 64 MP: more than any phone or ID-photo scanner delivers
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageError(ValueError):
    """An image file that cannot be used. `code` is stable for programs, `message` is for people."""

    def __init__(self, path: str | Path, code: str, message: str):
        self.path = str(path)
        self.code = code
        self.message = message
        super().__init__(f"{self.path}: {message}")


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding the pixels, when Pillow knows the format."""
    try:
        Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, with our own message
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def _png_has_alpha(data: bytes) -> bool:
    # IHDR colour type at byte 25: 4 = grey + alpha, 6 = RGB + alpha
    return data[:8] == _PNG_SIGNATURE and len(data) > 25 and data[25] in (4, 6)


def _to_bgr_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint16:
        img = (img.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        scale = 255.0 if float(np.nanmax(img)) <= 1.0 else 1.0
        img = np.clip(np.nan_to_num(img) * scale, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 2:  # grey + alpha
        grey = _over_white(img[:, :, :1], img[:, :, 1])
        return cv2.cvtColor(grey[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return _over_white(img[:, :, :3], img[:, :, 3])
    return np.ascontiguousarray(img[:, :, :3])


def _over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite over a white background (transparent ID photos become a plain light background)."""
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    out = colour.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image at `path` as a contiguous (H, W, 3) BGR uint8 array; `ImageError` if it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise ImageError(path, "missing", "không tìm thấy tệp")
    if not path.is_file():
        raise ImageError(path, "not_a_file", "không phải là tệp (có thể là thư mục)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(path, "unreadable", f"không đọc được tệp ({exc.strerror or exc})") from exc
    if not data:
        raise ImageError(path, "empty_file", "tệp rỗng (0 byte)")

    size = _header_size(path)
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ImageError(path, "zero_size", f"ảnh có kích thước 0 ({w}x{h})")
        if w * h > max_pixels:
            raise ImageError(path, "too_large",
                             f"ảnh quá lớn ({w}x{h} = {w * h / 1e6:.0f} MP, tối đa {max_pixels / 1e6:.0f} MP)")

    buf = np.frombuffer(data, dtype=np.uint8)
    # ANYDEPTH|ANYCOLOR keeps 16-bit and grey as they are and applies EXIF orientation; UNCHANGED is
    # needed only to keep a PNG's alpha channel.
    flags = cv2.IMREAD_UNCHANGED if _png_has_alpha(data) else cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageError(path, "not_an_image", f"không giải mã được ảnh ({exc.msg.strip()})") from exc
    if img is None:
        raise ImageError(path, "not_an_image", "không phải tệp ảnh hoặc ảnh bị hỏng")
    if img.size == 0 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(path, "zero_size", "ảnh có kích thước 0")
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(path, "too_large", f"ảnh quá lớn ({img.shape[1]}x{img.shape[0]})")
    return _to_bgr_uint8(img)
