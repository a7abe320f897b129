"""Uploaded files, bounded: request bodies refused while streaming, zip containers checked before they are opened,
spreadsheets read with bounded rows, columns, cells and time, and parsing kept off the event loop.

- `BodyLimitMiddleware`: every request body is limited while it streams in; the limit is
  `settings.max_upload_bytes` plus form overhead, or a larger one a module registers for its paths
  (`register_body_limit`, e.g. the library's video uploads). A declared Content-Length over the limit is
  refused before any byte is read, a chunked body as soon as it passes it.
- `check_zip(data, limits)`: the sum of the members' declared sizes (Python's zipfile never inflates a member
  past its declared size) and their number are bounded, so an .xlsx "zip bomb" is refused before parsing.
- `xlsx_sheets(data, limits)`: each worksheet's non-blank rows as `(row number, values)`, whatever dimension the
  file declares: at most `max_columns` columns are read, every physical row (blank or not) counts against
  `max_row_index`, data rows against `max_rows`, each cell against `max_cell_chars`, and the whole read against
  `max_seconds`. Corrupt XML anywhere becomes `UploadRejected`.
- `off_loop(fn, *args)`: run a parser in the thread pool with a time limit (`run_in_threadpool`).
Every refusal is `UploadRejected` (a Vietnamese message and an HTTP status, 413 for size, 422 for content).
"""

from __future__ import annotations

import asyncio
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import HTTPException
from openpyxl import load_workbook
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")
FORM_OVERHEAD = 256 * 1024  # multipart boundaries and the small fields that travel with a file
TOO_LARGE = "Dữ liệu gửi lên vượt quá giới hạn {limit} KB."


class UploadRejected(ValueError):
    """An upload refused as a whole; `str()` is the Vietnamese message, `status` the HTTP status."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 5 * 1024 * 1024
    max_unzipped_bytes: int = 64 * 1024 * 1024
    max_members: int = 2_000
    max_rows: int = 20_000
    max_row_index: int = 25_000  # physical rows (blank ones included) a sheet may extend to
    max_columns: int = 200
    max_cell_chars: int = 32_767  # Excel's own limit per cell
    max_seconds: float = 30.0


# ---------------------------------------------------------------- request bodies
def register_body_limit(app, path_pattern: str, limit: int | Callable[[Any], int]) -> None:
    """Allow bodies up to `limit` bytes (or `limit(app)`, read at each request) on paths that fully match the
    regular expression `path_pattern`; the first registered pattern that matches wins."""
    limits = getattr(app.state, "body_limits", None)
    if limits is None:
        limits = app.state.body_limits = []
    limits.append((re.compile(path_pattern), limit))


def body_limit_for(app, path: str) -> int:
    for pattern, limit in getattr(app.state, "body_limits", None) or ():
        if pattern.fullmatch(path):
            return limit(app) if callable(limit) else limit
    return app.state.settings.max_upload_bytes + FORM_OVERHEAD


def _n(number: int) -> str:
    """A number as Vietnamese writes it (25.000)."""
    return f"{number:,}".replace(",", ".")


def too_large_message(limit: int) -> str:
    return TOO_LARGE.format(limit=_n(limit // 1024))


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes its limit; FastAPI passes an HTTPException through unchanged."""

    def __init__(self, limit: int):
        super().__init__(413, too_large_message(limit))


class BodyLimitMiddleware:
    """Refuse a request body while it streams, once it passes the limit of its path (413, Vietnamese message):
    a declared Content-Length over the limit before any byte is read, a chunked body as soon as it passes it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope["app"], scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        state = {"read": 0, "started": False}

        async def limited_receive() -> Message:
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as exc:  # escaped every handler (raised outside a route): answer here
            if state["started"]:
                raise
            await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)


# ---------------------------------------------------------------- containers and spreadsheets
def check_zip(data: bytes, limits: UploadLimits) -> None:
    """Refuse a zip whose members would inflate past `max_unzipped_bytes` (or have too many members)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise UploadRejected("Tệp không phải bảng tính Excel (.xlsx) hợp lệ.") from None
    if len(infos) > limits.max_members:
        raise UploadRejected(f"Tệp nén có quá nhiều thành phần (tối đa {limits.max_members}).", 413)
    total = sum(max(i.file_size, 0) for i in infos)
    if total > limits.max_unzipped_bytes:
        raise UploadRejected(f"Tệp khi giải nén vượt quá {limits.max_unzipped_bytes // (1024 * 1024)} MB "
                             "(nghi ngờ tệp nén độc hại); không có dữ liệu nào được ghi.", 413)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise UploadRejected(f"Tệp cần quá {self.seconds:g} giây để đọc; hãy chia nhỏ tệp.", 422)


def bounded_rows(ws, limits: UploadLimits, deadline: Deadline, first_row: int = 1,
                 last_row: int | None = None) -> Iterator[tuple[int, tuple]]:
    """Non-blank rows of `ws` from `first_row` as (row number, values), every bound enforced (see module doc)."""
    data_rows = 0
    blank_row = None
    for offset, row in enumerate(ws.iter_rows(min_row=first_row, max_row=last_row, max_col=limits.max_columns,
                                              values_only=True)):
        number = first_row + offset
        if number > limits.max_row_index:
            raise UploadRejected(f"Bảng tính có dữ liệu tới dòng {_n(number)}, vượt giới hạn "
                                 f"{_n(limits.max_row_index)} dòng.", 413)
        if offset % 256 == 0:
            deadline.check()
        if row is blank_row:  # openpyxl yields one shared tuple for every missing row
            continue
        if not row or all(_blank(c) for c in row):
            blank_row = row
            continue
        for c in row:
            if isinstance(c, str) and len(c) > limits.max_cell_chars:
                raise UploadRejected(f"Dòng {number}: một ô dài quá {_n(limits.max_cell_chars)} ký tự.", 422)
        data_rows += 1
        if data_rows > limits.max_rows:
            raise UploadRejected(f"Tệp có quá {_n(limits.max_rows)} dòng dữ liệu.", 413)
        yield number, row


class Workbook:
    """An opened, checked .xlsx (read-only); `sheets()` gives the worksheets with their declared size ignored."""

    def __init__(self, data: bytes, limits: UploadLimits):
        if not data:
            raise UploadRejected("Tệp rỗng.")
        if len(data) > limits.max_bytes:
            raise UploadRejected(too_large_message(limits.max_bytes), 413)
        check_zip(data, limits)
        self.limits = limits
        self.deadline = Deadline(limits.max_seconds)
        try:
            self._wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a corrupt package
            raise UploadRejected(f"Tệp không phải bảng tính Excel (.xlsx) hợp lệ ({type(exc).__name__}).") from None

    def sheets(self) -> list:
        out = []
        for ws in self._wb.worksheets:
            ws.reset_dimensions()  # never trust the declared <dimension> (A1:XFD1048576)
            out.append(ws)
        return out

    def rows(self, ws, first_row: int = 1, last_row: int | None = None) -> Iterator[tuple[int, tuple]]:
        return guarded(bounded_rows(ws, self.limits, self.deadline, first_row, last_row))

    def close(self) -> None:
        self._wb.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def guarded(rows: Iterator[T]) -> Iterator[T]:
    """`rows`, with the parser's own errors on corrupt XML turned into UploadRejected."""
    try:
        yield from rows
    except UploadRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - read-only sheets are parsed lazily: corrupt XML shows up here
        raise UploadRejected(f"Không đọc được tệp Excel ({type(exc).__name__}).") from None


# ---------------------------------------------------------------- off the event loop
async def off_loop(fn: Callable[..., T], *args: Any, seconds: float = 60.0, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in the thread pool; UploadRejected after `seconds` (the parser's own deadline
    stops the thread soon after: every bounded reader above checks it)."""
    try:
        return await asyncio.wait_for(run_in_threadpool(fn, *args, **kwargs), timeout=seconds)
    except TimeoutError:
        raise UploadRejected(f"Tệp cần quá {seconds:g} giây để đọc; hãy chia nhỏ tệp.", 422) from None
