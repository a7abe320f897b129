"""Encryption at rest of the installed gallery file (`paths.gallery`): templates and personal ids of minors.

The file is `REST_MAGIC`, a 4-byte big-endian header length, a JSON header (format, school), a 12-byte nonce
and the AES-256-GCM ciphertext of the gallery's `.npz` bytes; the header is the associated data. The AES key is
derived (HKDF-SHA256) from the school's gallery key (`keys/gallery-aes.key`) and the school code, with a purpose
different from the transport package's, so neither key opens the other's files. The plaintext exists only in
memory: `open_bytes` returns it to `Gallery.load`, `seal_bytes` is what `Gallery.save` writes.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

REST_MAGIC = b"SOCTRANG-EDU-GALLERY-AT-REST\n"
PACKAGE_MAGIC = b"SOCTRANG-EDU-GALLERY\n"   # gallery_package.MAGIC: a package given where a gallery is expected
FORMAT = "soctrang-edu/gallery-at-rest"
_MAX_HEADER = 4096


class SealError(ValueError):
    """An encrypted gallery file that cannot be opened with this key (altered, foreign or damaged)."""


@dataclass(frozen=True)
class GallerySeal:
    """The school's gallery key and code: encrypts and decrypts the installed gallery file."""

    key: bytes = field(repr=False)
    school: str

    def _aes(self) -> AESGCM:
        info = f"soctrang-edu|gallery-at-rest|{self.school}".encode()
        return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self.key))

    def seal_bytes(self, plain: bytes) -> bytes:
        head = json.dumps({"format": FORMAT, "school": self.school}, sort_keys=True).encode()
        aad = REST_MAGIC + struct.pack(">I", len(head)) + head
        nonce = os.urandom(12)
        return aad + nonce + self._aes().encrypt(nonce, plain, aad)

    def open_bytes(self, data: bytes, where: str = "gallery") -> bytes:
        if not is_sealed(data):
            raise SealError(f"{where}: không phải tệp thư viện khuôn mặt đã mã hoá (encrypted gallery)")
        start = len(REST_MAGIC) + 4
        if len(data) < start:
            raise SealError(f"{where}: tệp thư viện khuôn mặt bị cụt (truncated)")
        (hlen,) = struct.unpack(">I", data[len(REST_MAGIC):start])
        if hlen > _MAX_HEADER or start + hlen + 12 + 16 > len(data):
            raise SealError(f"{where}: tệp thư viện khuôn mặt bị cụt hoặc hỏng (truncated); cài lại gói ảnh mẫu")
        try:
            header = json.loads(data[start:start + hlen])
        except ValueError:
            raise SealError(f"{where}: phần đầu tệp thư viện khuôn mặt bị hỏng (header)") from None
        if not isinstance(header, dict) or header.get("school") != self.school:
            school = header.get("school") if isinstance(header, dict) else None
            raise SealError(f"{where}: thư viện khuôn mặt của trường {school!r}, không phải {self.school!r}")
        nonce = data[start + hlen:start + hlen + 12]
        try:
            return self._aes().decrypt(nonce, data[start + hlen + 12:], data[:start + hlen])
        except InvalidTag:
            raise SealError(f"{where}: không giải mã được thư viện khuôn mặt (authentication failed): tệp đã bị "
                            "sửa hoặc không được mã hoá bằng khoá của trường này") from None


def is_sealed(data: bytes) -> bool:
    return data.startswith(REST_MAGIC)


def is_package(data: bytes) -> bool:
    return data.startswith(PACKAGE_MAGIC)
