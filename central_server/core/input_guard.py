"""Values no database column can hold become a 422 with a Vietnamese message, the same on SQLite and PostgreSQL.

Two guards, for the whole class of "hostile value reaches the driver" failures rather than route by route:
- every statement's parameters are checked before they reach the driver (`install_db_guard`): a text value
  containing NUL (PostgreSQL refuses it, SQLite would silently store it) or an integer outside 64 bits raises
  `InvalidInput`;
- the app maps `InvalidInput` and the driver's own `DataError` (an integer out of a 32-bit column's range, a
  string longer than its column, a malformed number) to 422 (`register_handlers`), after the request's session
  has rolled back, so nothing half-written stays.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, event

_INT64 = (-(2**63), 2**63 - 1)
MESSAGE = "Dữ liệu không hợp lệ: có ký tự không được phép hoặc giá trị vượt quá giới hạn."


class InvalidInput(ValueError):
    """A value that cannot be stored; `str()` is the Vietnamese message for the person."""

    def __init__(self, message: str = MESSAGE):
        super().__init__(message)


def _check(value) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput()
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InvalidInput()
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check(item)


def check_parameters(parameters) -> None:
    """Raise InvalidInput when any parameter (dict, sequence, or a list of them for executemany) is unstorable."""
    if parameters is None:
        return
    rows: Iterable = parameters if isinstance(parameters, list) and parameters and \
        isinstance(parameters[0], (dict, tuple, list)) else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row
        for value in values:
            _check(value)


def install_db_guard(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _guard(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001 - SQLAlchemy's hook
        check_parameters(parameters)
