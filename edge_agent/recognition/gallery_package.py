"""The gallery package: a school's enrolled templates for its edge agent, encrypted and authenticated.

Written by `enroll export`, read by `edge-agent gallery import`. It carries embeddings, student ids, class ids,
the embedder's name and sha256, the gallery version and its creation time: **no photos**.

Layout: `MAGIC`, a 4-byte big-endian header length, the header (canonical JSON: format, school, version,
model, counts, created_at), a 12-byte nonce, then AES-256-GCM ciphertext of an `.npz` payload. The header is
the GCM associated data, so it cannot be altered either; the AES key is derived (HKDF-SHA256) from the
school's gallery key *and* the school code, so a package of another school, or one with any byte changed,
fails authentication and is refused.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge_agent.recognition.gallery import Gallery, GalleryError, GalleryMeta

MAGIC = b"SOCTRANG-EDU-GALLERY\n"
FORMAT = "soctrang-edu/gallery-package"
FORMAT_VERSION = 1
MAX_BYTES = 512 * 1024 * 1024
_MAX_HEADER = 64 * 1024


class PackageError(ValueError):
    """A package that must not be loaded; the message says why and what to do."""


def derive_key(school_key: bytes, purpose: str, school: str) -> bytes:
    """A 256-bit key for one purpose and one school from the school's gallery key (HKDF-SHA256)."""
    info = f"soctrang-edu|{purpose}|{school}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(school_key)


@dataclass(frozen=True)
class GalleryPackage:
    header: dict
    embeddings: np.ndarray        # (N, D) float32, L2-normalised
    student_ids: list[str]        # (N,) one per template
    class_ids: list[str]          # (N,) the student's class ('' if none)

    @property
    def school(self) -> str:
        return str(self.header["school"])

    @property
    def gallery_version(self) -> int:
        return int(self.header["gallery_version"])

    def to_gallery(self) -> Gallery:
        meta = GalleryMeta(self.header["model_name"], self.header["model_sha256"], str(self.gallery_version))
        return Gallery(self.embeddings, self.student_ids, meta)


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build_package(school: str, school_key: bytes, *, embeddings: np.ndarray, student_ids: list[str],
                  class_ids: list[str], model_name: str, model_sha256: str, gallery_version: int,
                  created_at: str) -> bytes:
    """The encrypted package bytes."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != len(student_ids) or len(student_ids) != len(class_ids):
        raise PackageError("embeddings, student ids and class ids must have one row per template")
    if not len(emb):
        raise PackageError("no templates to export")
    try:
        Gallery(emb, student_ids, GalleryMeta(model_name, model_sha256))  # checks norms and ids
    except GalleryError as exc:
        raise PackageError(str(exc)) from None
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "school": school,
              "gallery_version": int(gallery_version), "created_at": created_at, "model_name": model_name,
              "model_sha256": model_sha256, "dim": int(emb.shape[1]), "n_templates": len(student_ids),
              "n_students": len(set(student_ids))}
    buf = io.BytesIO()
    np.savez(buf, embeddings=emb, student_ids=np.asarray(student_ids, dtype=str),
             class_ids=np.asarray(class_ids, dtype=str), header=np.asarray(json.dumps(header)))
    head = _canonical(header)
    aad = MAGIC + struct.pack(">I", len(head)) + head
    nonce = os.urandom(12)
    sealed = AESGCM(derive_key(school_key, "gallery-package", school)).encrypt(nonce, buf.getvalue(), aad)
    return aad + nonce + sealed


def read_package(data: bytes, school: str, school_key: bytes, *, where: str = "package") -> GalleryPackage:
    """Decrypt and check a package for `school`; `PackageError` for anything tampered, foreign or malformed."""
    if len(data) > MAX_BYTES:
        raise PackageError(f"{where}: tệp quá lớn cho một gói ảnh mẫu ({len(data)} byte)")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise PackageError(f"{where}: không phải gói ảnh mẫu (not a gallery package) của `enroll export`")
    (hlen,) = struct.unpack(">I", data[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if hlen > _MAX_HEADER or start + hlen + 12 + 16 > len(data):
        raise PackageError(f"{where}: gói bị cụt hoặc hỏng (truncated); xuất lại gói bằng `enroll export`")
    head = data[start:start + hlen]
    try:
        header = json.loads(head)
    except (UnicodeDecodeError, ValueError):
        raise PackageError(f"{where}: phần đầu gói bị hỏng (damaged header); xuất lại gói bằng "
                           "`enroll export`") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise PackageError(f"{where}: không phải gói ảnh mẫu (format tag missing)")
    if header.get("format_version") != FORMAT_VERSION:
        raise PackageError(f"{where}: định dạng gói {header.get('format_version')} không được hỗ trợ "
                           "(unsupported format)")
    if header.get("school") != school:
        raise PackageError(f"{where}: gói này của trường {header.get('school')!r}, không phải {school!r} "
                           f"(belongs to school {header.get('school')!r}); xuất lại gói cho trường này")
    nonce = data[start + hlen:start + hlen + 12]
    try:
        payload = AESGCM(derive_key(school_key, "gallery-package", school)).decrypt(
            nonce, data[start + hlen + 12:], data[:start + hlen])
    except InvalidTag:
        raise PackageError(f"{where}: gói bị từ chối (authentication failed): đã bị sửa sau khi xuất, hoặc không "
                           f"được làm bằng khoá của trường này ({school}); xuất lại trên máy đăng ký của trường"
                           ) from None
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            emb, ids, classes = z["embeddings"], z["student_ids"], z["class_ids"]
            inner = json.loads(str(z["header"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise PackageError(f"{where}: nội dung gói bị hỏng (malformed payload: {exc})") from None
    if inner != header:
        raise PackageError(f"{where}: phần đầu và nội dung gói không khớp")
    if emb.shape != (header["n_templates"], header["dim"]) or len(ids) != len(emb) or len(classes) != len(emb):
        raise PackageError(f"{where}: số mẫu trong gói không khớp phần đầu")
    pkg = GalleryPackage(header, np.ascontiguousarray(emb, np.float32), [str(s) for s in ids.tolist()],
                         [str(c) for c in classes.tolist()])
    try:
        pkg.to_gallery()
    except GalleryError as exc:
        raise PackageError(f"{where}: {exc}") from None
    return pkg


def read_package_file(path: str | Path, school: str, school_key: bytes) -> GalleryPackage:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PackageError(f"{path}: không tìm thấy tệp (file not found)") from None
    except OSError as exc:
        raise PackageError(f"{path}: không đọc được tệp ({exc.strerror or exc})") from None
    return read_package(data, school, school_key, where=str(path))
