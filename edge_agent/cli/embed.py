"""`edge-agent embed`: faces of a batch of image files to one .npz (the format enrolment and benchmarks share).

OUT.npz arrays, one row per face (or per image with no face / an error):
  paths (str), found (bool), embeddings (float32 (N, D), L2-normalised, zeros where not found),
  boxes (float32 (N, 4)), landmarks (float32 (N, 5, 2)), det_scores (float32), quality (float32),
  face_index (int32, -1 where not found), errors (str, "" when the file was read).
A bad file gets an error line on stderr and its own row; the rest of the batch is still processed (exit 1).
When no file at all could be read, nothing is written (exit 1).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from edge_agent.vision.image_io import ImageError, load_image


@dataclass
class EmbedBatch:
    dim: int
    paths: list[str] = field(default_factory=list)
    found: list[bool] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    det_scores: list[float] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)
    face_index: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, path: str, face=None, index: int = -1, error: str = "") -> None:
        self.paths.append(path)
        self.found.append(face is not None)
        self.embeddings.append(face.embedding if face is not None else np.zeros(self.dim, np.float32))
        self.boxes.append(face.detection.box if face is not None else np.zeros(4, np.float32))
        self.landmarks.append(face.detection.landmarks if face is not None else np.zeros((5, 2), np.float32))
        self.det_scores.append(face.detection.score if face is not None else 0.0)
        self.quality.append(face.quality.score if face is not None else 0.0)
        self.face_index.append(index)
        self.errors.append(error)

    def arrays(self) -> dict[str, np.ndarray]:
        n = len(self.paths)
        return {
            "paths": np.array(self.paths, dtype=str),
            "found": np.array(self.found, dtype=bool),
            "embeddings": np.array(self.embeddings, dtype=np.float32).reshape(n, self.dim),
            "boxes": np.array(self.boxes, dtype=np.float32).reshape(n, 4),
            "landmarks": np.array(self.landmarks, dtype=np.float32).reshape(n, 5, 2),
            "det_scores": np.array(self.det_scores, dtype=np.float32),
            "quality": np.array(self.quality, dtype=np.float32),
            "face_index": np.array(self.face_index, dtype=np.int32),
            "errors": np.array(self.errors, dtype=str),
        }


def embed_paths(analyzer, paths: list[str], all_faces: bool = False, on_error=None) -> EmbedBatch:
    """Embed the largest face (or all faces) of each image; per-file errors are recorded, never raised."""
    batch = EmbedBatch(dim=analyzer.dim)
    for path in paths:
        try:
            faces = analyzer.analyze(load_image(path), all_faces=all_faces)
        except ImageError as exc:
            batch.add(path, error=exc.message)
            if on_error:
                on_error(path, exc.message)
            continue
        if not faces:
            batch.add(path)
        for i, face in enumerate(faces):
            batch.add(path, face, i)
    return batch


def save_npz_atomic(out: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the .npz next to its destination and rename it into place: never a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _usage(message: str) -> None:
    print(f"Lỗi: {message}", file=sys.stderr)
    raise typer.Exit(2)


def read_list(list_file: Path) -> list[str]:
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _usage(f"không đọc được danh sách {list_file} (--list): {exc}")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def embed(
    out: Annotated[Path, typer.Option("--out", help="Tệp kết quả .npz.")],
    images: Annotated[list[Path] | None, typer.Argument(help="Các tệp ảnh.")] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="Tệp văn bản, mỗi dòng một đường dẫn ảnh.")]
    = None,
    all_faces: Annotated[bool, typer.Option("--all-faces", help="Mọi khuôn mặt của ảnh, không chỉ mặt lớn nhất.")]
    = False,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Số luồng onnxruntime mỗi phiên.")] = 1,
) -> None:
    """Phát hiện, căn chỉnh và trích đặc trưng khuôn mặt trong ảnh vào một tệp .npz (mã thoát 1 nếu có tệp lỗi)."""
    paths = [str(p) for p in images or []] + (read_list(list_file) if list_file else [])
    if not paths:
        _usage("chưa có ảnh nào: nêu tệp ảnh hoặc dùng --list")
    if out.suffix != ".npz":
        _usage(f"tệp kết quả phải có đuôi .npz (--out {out})")
    # lazy: the vision stack (onnxruntime) loads only for this command, not for every `edge-agent` call
    from edge_agent.vision.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer.from_store(threads=threads)

    def report(path: str, message: str) -> None:
        print(f"Lỗi: {path}: {message}", file=sys.stderr)

    batch = embed_paths(analyzer, paths, all_faces=all_faces, on_error=report)
    bad = int(sum(1 for e in batch.errors if e))
    if bad == len(paths):
        print(f"Lỗi: không đọc được tệp ảnh nào trong {len(paths)} tệp; không ghi {out}", file=sys.stderr)
        raise typer.Exit(1)
    arrays = batch.arrays()
    save_npz_atomic(out, arrays)
    images_with_face = len({p for p, f in zip(batch.paths, batch.found, strict=True) if f})
    print(f"{len(paths)} ảnh: {images_with_face} có khuôn mặt, {int(arrays['found'].sum())} khuôn mặt, "
          f"{bad} tệp lỗi -> {out}")
    if bad:
        raise typer.Exit(1)
