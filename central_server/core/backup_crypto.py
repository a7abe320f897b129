"""Backups encrypted at rest: a chunked AES-256-GCM stream (`cryptography`'s AESGCM), so a dump of any size is
encrypted and decrypted without holding it in memory and without a plaintext copy on disk.

File layout: ``MAGIC (8) | key id (8) | nonce prefix (8)`` then records ``length (4, big endian) | ciphertext``,
each record one chunk of up to 1 MiB. Chunk `i` is sealed with nonce ``prefix || i`` (4 bytes) and associated
data ``header || final flag``; the last chunk (possibly empty) carries the final flag, so a truncated,
reordered or spliced file fails to decrypt instead of restoring part of a database. The key id (first 8 bytes
of SHA-256 of the key) tells "wrong key" apart from "damaged file".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CSBKGCM1"
CHUNK = 1 << 20
_HEADER = len(MAGIC) + 16
_MAX_RECORD = CHUNK + 16


class BackupCryptoError(ValueError):
    """The file is not an encrypted backup, was encrypted with another key, or is damaged."""


def parse_key(text: str) -> bytes:
    """A 256-bit key given as 64 hex digits or as URL-safe base64 (44 characters)."""
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.urlsafe_b64decode(text.encode())
    except (ValueError, binascii.Error):
        raise BackupCryptoError("backup key must be 64 hex digits or URL-safe base64 of 32 bytes") from None
    if len(key) != 32:
        raise BackupCryptoError(f"backup key must be 32 bytes (got {len(key)})")
    return key


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:8]


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


class EncryptingWriter:
    """Write plaintext, get the encrypted stream in `dst`; `close()` seals the final chunk."""

    def __init__(self, dst: BinaryIO, key: bytes):
        self._dst, self._aead = dst, AESGCM(key)
        self._header = MAGIC + key_id(key) + os.urandom(8)
        self._buf = bytearray()
        self._index = 0
        self._closed = False
        dst.write(self._header)

    def write(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) > CHUNK:  # keep at least one byte back: the final chunk is sealed by close()
            self._seal(bytes(self._buf[:CHUNK]), final=False)
            del self._buf[:CHUNK]

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buf), final=True)
            self._buf.clear()
            self._closed = True

    def _seal(self, chunk: bytes, final: bool) -> None:
        if self._index >= 2**32:
            raise BackupCryptoError("backup too large for one stream")
        nonce = self._header[-8:] + struct.pack(">I", self._index)
        sealed = self._aead.encrypt(nonce, chunk, self._header + (b"\x01" if final else b"\x00"))
        self._dst.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1


def decrypt_chunks(src: BinaryIO, key: bytes) -> Iterator[bytes]:
    """Yield the plaintext chunk by chunk, each one authenticated before it is yielded; raise
    `BackupCryptoError` on a wrong key, a damaged chunk or a truncated file (after the last good chunk)."""
    header = src.read(_HEADER)
    if len(header) < _HEADER or not header.startswith(MAGIC):
        raise BackupCryptoError("not an encrypted backup (bad header)")
    if header[len(MAGIC):len(MAGIC) + 8] != key_id(key):
        raise BackupCryptoError("backup was encrypted with another key")
    aead = AESGCM(key)
    index = 0
    record = _read_record(src)
    if record is None:
        raise BackupCryptoError("backup is truncated (no data)")
    while True:
        following = _read_record(src)
        final = following is None
        nonce = header[-8:] + struct.pack(">I", index)
        try:
            plain = aead.decrypt(nonce, record, header + (b"\x01" if final else b"\x00"))
        except InvalidTag:
            raise BackupCryptoError(f"backup is damaged or truncated at chunk {index}") from None
        yield plain
        if final:
            return
        record, index = following, index + 1


def _read_record(src: BinaryIO) -> bytes | None:
    head = src.read(4)
    if not head:
        return None
    if len(head) < 4:
        raise BackupCryptoError("backup is truncated (partial record header)")
    (n,) = struct.unpack(">I", head)
    if n > _MAX_RECORD:
        raise BackupCryptoError("backup is damaged (record too large)")
    data = src.read(n)
    if len(data) < n:
        raise BackupCryptoError("backup is truncated (partial record)")
    return data
