"""The school's queue of erasures still to propagate (filled by `enroll remove` / consent withdrawal).

`enroll` deletes a student's templates and thumbnail from the school database at once and removes the
student from the gallery file; what remains is to reach the *running* service (its in-memory gallery) and
the central server. Whoever carries them reads `pending(conn)` (each an `ErasureRequest` of the wire
protocol, ready for `Downsync.erase(request.student_id)` or an uplink message) and calls
`mark_propagated(conn, request_id)` once it has been applied.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from edge_agent.protocol import ErasureRequest
from edge_agent.store.school_db import now_iso


def pending(conn: sqlite3.Connection) -> list[ErasureRequest]:
    """Erasures not yet propagated, oldest first."""
    rows = conn.execute("SELECT student_id, request_id FROM erasure_queue WHERE propagated_at IS NULL ORDER BY id")
    return [ErasureRequest(student_id=r[0], request_id=r[1]) for r in rows]


def mark_propagated(conn: sqlite3.Connection, request_id: str) -> bool:
    """Record that an erasure reached its destination; False if unknown or already marked."""
    cur = conn.execute("UPDATE erasure_queue SET propagated_at = ? WHERE request_id = ? AND propagated_at IS NULL",
                       (now_iso(), request_id))
    return cur.rowcount == 1


def erased_since(conn: sqlite3.Connection, since: datetime | str) -> set[str]:
    """Students erased at or after `since` (a gallery package made before then must not bring them back)."""
    stamp = since if isinstance(since, str) else since.isoformat(timespec="seconds")
    return {r[0] for r in conn.execute("SELECT student_id FROM erasure_queue WHERE requested_at >= ?", (stamp,))}
