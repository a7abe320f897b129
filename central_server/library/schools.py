"""MOET school codes of the schools that own library items, for OAI-PMH sets (`school:<mã trường>`).

The library runs without the master-data module too: then (or for a school with no master-data row) a
school is named by its database id, as before. The map is read once per database session (per request).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

_KEY = "library_school_codes"


def codes_by_id(session: Session) -> dict[int, str]:
    """school id -> MOET school code, for every school in the master data (empty without that module)."""
    cached = session.info.get(_KEY)
    if cached is not None:
        return cached
    codes: dict[int, str] = {}
    try:
        # optional module: the library must import and run without master data installed
        from central_server.masterdata.tables import School  # type: ignore[import-not-found]

        with session.begin_nested():  # a missing table must not abort the caller's PostgreSQL transaction
            codes = {sid: code for sid, code in session.execute(select(School.id, School.code)) if code}
    except (ImportError, SQLAlchemyError):
        codes = {}
    session.info[_KEY] = codes
    return codes


def set_value(session: Session, school_id: int) -> str:
    """The `school:<value>` of an item's school: its MOET code, or the id when it has none."""
    return codes_by_id(session).get(school_id) or str(school_id)


def ids_for(session: Session, value: str) -> list[int]:
    """The school ids a `school:<value>` set names (a MOET code; an id only for a school without a code)."""
    codes = codes_by_id(session)
    ids = [sid for sid, code in codes.items() if code == value]
    if not ids and value.isdigit() and len(value) < 12 and int(value) not in codes:
        ids = [int(value)]
    return ids
