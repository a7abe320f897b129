"""The modules' handlers of stored edge events, listed explicitly (no discovery, no import strings).

The ingest worker applies every newly stored event with `apply_event`, in the transaction that stores it
(central_server/ingest/service.py: `store_batch`). A module that reacts to edge events adds its handler to
`EVENT_HANDLERS`. Composition only: the ingest module itself never imports a module that handles events.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from central_server.attendance.service import apply_event as apply_attendance_event
from central_server.ingest.service import ApplyFn
from edge_agent.protocol import Event

EVENT_HANDLERS: tuple[ApplyFn, ...] = (apply_attendance_event,)


def apply_event(session: Session, event: Event) -> None:
    """Apply one newly stored event with every module's handler (the caller's transaction)."""
    for handler in EVENT_HANDLERS:
        handler(session, event)


def event_handler() -> ApplyFn:
    """What the ingest worker applies events with (`central-server ingest run`, `python -m ...ingest.worker`)."""
    return apply_event
