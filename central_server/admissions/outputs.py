"""The offline CLI's output files, written all or none.

Every target is checked before any work (its folder exists, it is not a folder, no two options name the same
file, no output overwrites an input); then each file is written to a temporary file beside its target and
renamed into place only once all of them are written. A failure while writing removes the temporary files and
leaves every target as it was. Messages are Vietnamese: they go to the staff member running the command.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(ValueError):
    pass


def check_targets(outputs: dict[str, Path], inputs: dict[str, Path | None]) -> None:
    """`outputs` / `inputs`: option name -> path. Raises OutputError with a Vietnamese message."""
    seen: dict[Path, str] = {Path(p).resolve(): opt for opt, p in inputs.items() if p is not None}
    for opt, path in outputs.items():
        path = Path(path)
        resolved = path.resolve()
        if resolved in seen:
            raise OutputError(f"{opt} {path}: trùng tệp với {seen[resolved]}; hãy chọn một tệp khác")
        seen[resolved] = opt
        if path.is_dir():
            raise OutputError(f"{opt} {path}: đây là một thư mục, cần tên một tệp để ghi kết quả")
        if not path.parent.is_dir():
            raise OutputError(f"{opt} {path}: thư mục {path.parent} không tồn tại")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise OutputError(f"{opt} {path}: không có quyền ghi vào thư mục {path.parent}")


def write_all(files: dict[Path, str]) -> None:
    """Write every file (UTF-8) or none of them. Files are created 0600: they hold personal data.

    Each file goes to a temporary file beside its target; once all are written, each existing target is moved
    aside and the new file renamed into place. Any failure puts back what was there and removes the rest."""
    staged: list[tuple[str, Path]] = []
    placed: list[tuple[str | None, Path]] = []  # (the old file moved aside, or None), target
    try:
        for path, text in files.items():
            path = Path(path)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in staged:
            old = None
            if path.exists():
                old = tmp.removesuffix(".tmp") + ".old"
                os.replace(path, old)
            placed.append((old, path))
            os.replace(tmp, path)
    except OSError as exc:
        _roll_back(staged, placed)
        where = f" {exc.filename}" if exc.filename else ""
        raise OutputError(f"không ghi được tệp kết quả{where}: {exc.strerror or exc}; không tệp nào được ghi") \
            from None
    for old, _ in placed:
        if old:
            Path(old).unlink(missing_ok=True)


def _roll_back(staged: list[tuple[str, Path]], placed: list[tuple[str | None, Path]]) -> None:
    tmps = {path: tmp for tmp, path in staged}
    for old, path in reversed(placed):
        if old:
            os.replace(old, path)  # the previous file back (over the new one, if it was in place)
        elif not Path(tmps[path]).exists():
            path.unlink(missing_ok=True)  # the new file was in place where there was none
    for tmp, _ in staged:
        Path(tmp).unlink(missing_ok=True)
