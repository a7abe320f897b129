"""MQTT topics: edu/v1/<school>/events | status | control."""

from __future__ import annotations

from edge_agent.protocol.base import (
    SCHOOL_CODE_RE,
    TOPIC_PREFIX,
    ProtocolError,
)


# ---------------------------------------------------------------- topics
def check_school(school: str) -> str:
    if not isinstance(school, str) or not SCHOOL_CODE_RE.match(school):
        raise ProtocolError("bad_school", f"invalid school code {school!r}")
    return school


def events_topic(school: str) -> str:
    return f"{TOPIC_PREFIX}/{check_school(school)}/events"


def status_topic(school: str) -> str:
    return f"{TOPIC_PREFIX}/{check_school(school)}/status"


def control_topic(school: str) -> str:
    return f"{TOPIC_PREFIX}/{check_school(school)}/control"


EVENTS_WILDCARD = f"{TOPIC_PREFIX}/+/events"
STATUS_WILDCARD = f"{TOPIC_PREFIX}/+/status"


def parse_topic(topic: str) -> tuple[str, str]:
    """``edu/v1/<school>/<channel>`` -> (school, channel); ProtocolError otherwise."""
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_PREFIX or parts[3] not in ("events", "status", "control"):
        raise ProtocolError("bad_topic", f"unexpected topic {topic!r}")
    return check_school(parts[2]), parts[3]
