"""The end-to-end acknowledgement (central -> edge): tell each school which of its events the database holds.

The edge keeps every outbox row until this confirmation (a PUBACK only says that the broker took it; see
edge_agent/sync/outbox.py). After each committed batch the ingest worker sends every school in it an
`events.ack` control message (signed with the school's key, QoS 1, on its control topic) listing the sequence
numbers now held: stored, or already held (a duplicate or a replayed copy of a stored event). A heartbeat that
carries `unacked_from`/`unacked_to` (rows PUBACKed long ago and never acknowledged) is answered with the held
ranges of that window and `checked` set, so the edge re-sends exactly the rows the database lacks. An ack that
is lost costs nothing but a question in a later heartbeat. No MQTT here: the worker publishes what this builds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy.orm import Session

from central_server.ingest.service import StoreOutcome, reconcile
from edge_agent.protocol import (
    Control,
    ControlKind,
    EventsAck,
    Heartbeat,
    ProtocolError,
    new_control,
    parse_status,
    parse_topic,
)

MAX_RANGES = 5000           # per message (EventsAck.held); ~60 KB of JSON at most


def to_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def batch_acks(outcomes: Sequence[StoreOutcome], key_for: Callable[[str], bytes | None]) -> list[Control]:
    """One signed `events.ack` per school of a committed batch, for the events the database now holds."""
    per_school: dict[str, list[int]] = {}
    for o in outcomes:
        if o.held and o.school is not None and o.seq is not None:
            per_school.setdefault(o.school, []).append(o.seq)
    messages = []
    for school, seqs in sorted(per_school.items()):
        key = key_for(school)
        ranges = to_ranges(seqs)
        for i in range(0, len(ranges), MAX_RANGES) if key is not None else ():
            messages.append(new_control(school, ControlKind.EVENTS_ACK, key,
                                        ack=EventsAck(held=ranges[i:i + MAX_RANGES])))
    return messages


def heartbeat_questions(statuses: Iterable[tuple[str, bytes]]) -> dict[str, tuple[int, int]]:
    """school -> (from, to) for each heartbeat asking about unacknowledged rows (the latest one per school).

    The school is the topic's (the broker ACL binds it to the login); an unreadable status asks nothing."""
    asked: dict[str, tuple[int, int]] = {}
    for topic, payload in statuses:
        try:
            school, _ = parse_topic(topic)
            status = parse_status(payload)
        except (ProtocolError, ValueError):
            continue
        if (isinstance(status, Heartbeat) and status.school == school and status.unacked_from is not None
                and status.unacked_to is not None and status.unacked_from <= status.unacked_to):
            asked[school] = (status.unacked_from, min(status.unacked_to, status.unacked_from + 100_000))
    return asked


def answer(session: Session, school: str, window: tuple[int, int], key: bytes) -> Control:
    """The held ranges of `window` from the database, as a signed `events.ack` with `checked` set."""
    lo, hi = window
    held = [tuple(r) for r in reconcile(session, school, lo, hi).held]
    if len(held) > MAX_RANGES:  # very fragmented: answer for the part the message can describe
        held = held[:MAX_RANGES]
        hi = held[-1][1]
    return new_control(school, ControlKind.EVENTS_ACK, key, ack=EventsAck(held=held, checked=(lo, hi)))
