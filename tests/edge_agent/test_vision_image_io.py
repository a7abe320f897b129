"""load_image: every kind of bad file gets its own clear error; odd-but-valid images are converted."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from edge_agent.vision.image_io import ImageError, load_image


def _png_with_size(path, width: int, height: int) -> None:
    """A PNG whose IHDR claims width x height (valid CRC), with a 1x1 pixel stream behind it."""
    ok, buf = cv2.imencode(".png", np.zeros((1, 1), np.uint8))
    data = bytearray(buf.tobytes())
    ihdr = data[12:29]  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("make, code", [
    (lambda p: None, "missing"),
    (lambda p: p.mkdir(), "not_a_file"),
    (lambda p: p.write_bytes(b""), "empty_file"),
    (lambda p: p.write_text("tên,lớp\nNguyễn Văn A,10A1\n", encoding="utf-8"), "not_an_image"),
    (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64), "not_an_image"),  # JPEG magic, no data
    (lambda p: _png_with_size(p, 0, 0), "not_an_image"),
    (lambda p: _png_with_size(p, 30000, 30000), "too_large"),  # refused from the header alone
])
def test_bad_files_raise_clear_error(tmp_path, make, code):
    path = tmp_path / "input.jpg"
    make(path)
    with pytest.raises(ImageError) as info:
        load_image(path)
    err = info.value
    assert err.code == code
    assert err.path == str(path)
    assert str(path) in str(err) and err.message  # the message names the file and says what is wrong


def test_zero_size_header_reported(tmp_path):
    path = tmp_path / "zero.png"
    _png_with_size(path, 0, 5)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert info.value.code in {"zero_size", "not_an_image"}


def test_max_pixels_is_configurable(tmp_path):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 128, np.uint8))
    assert load_image(path).shape == (300, 400, 3)
    with pytest.raises(ImageError) as info:
        load_image(path, max_pixels=100_000)
    assert info.value.code == "too_large"


def test_grayscale_becomes_bgr(tmp_path):
    grey = np.tile(np.arange(256, dtype=np.uint8), (40, 1))
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), grey)
    img = load_image(path)
    assert img.shape == (40, 256, 3) and img.dtype == np.uint8
    assert np.array_equal(img[:, :, 0], grey) and np.array_equal(img[:, :, 2], grey)


def test_16bit_png_is_scaled_to_8bit(tmp_path):
    deep = np.zeros((10, 3, 3), np.uint16)
    deep[:, 0], deep[:, 1], deep[:, 2] = 0, 32896, 65535
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), deep)
    img = load_image(path)
    assert img.dtype == np.uint8 and img.shape == (10, 3, 3)
    assert img[0, 0, 0] == 0 and img[0, 1, 0] == 128 and img[0, 2, 0] == 255


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (0, 0, 255, 255)  # opaque red (BGR)
    rgba[:, 4:] = (0, 0, 0, 0)  # fully transparent black
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), rgba)
    img = load_image(path)
    assert img.shape == (8, 8, 3)
    assert tuple(img[0, 0]) == (0, 0, 255) and tuple(img[0, 7]) == (255, 255, 255)


def test_real_jpeg_loads(model_store):
    path = model_store.samples("face_recognition")["obama.jpg"]
    img = load_image(path)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.flags.c_contiguous
    assert np.array_equal(img, cv2.imread(str(path)))
