"""The heartbeat's count of today's camera decisions: counted from the agent's start on its first day, from
local midnight on the next days (Asia/Ho_Chi_Minh, UTC+7), and accepted by the protocol's Heartbeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from edge_agent.protocol import Heartbeat
from edge_agent.service import DecisionDay

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_counts_roll_over_at_local_midnight():
    start = datetime(2026, 12, 3, 23, 30, tzinfo=TZ).astimezone(UTC)  # the agent starts at 23:30 local
    days = DecisionDay(TZ)
    first = days.snapshot(start)
    assert (first["day"].isoformat(), first["since"], first["accepted"]) == ("2026-12-03", start, 0)
    for outcome in ("accept", "accept", "review", "unknown"):
        days.add(outcome, start + timedelta(minutes=10))
    snap = days.snapshot(start + timedelta(minutes=20))
    assert (snap["accepted"], snap["review"], snap["unknown"]) == (2, 1, 1)
    after_midnight = start + timedelta(minutes=45)  # 00:15 local on 4 December (17:15 UTC on the 3rd)
    days.add("review", after_midnight)
    snap = days.snapshot(after_midnight)
    assert snap["day"].isoformat() == "2026-12-04"
    assert snap["since"] == datetime(2026, 12, 4, tzinfo=TZ).astimezone(UTC)
    assert (snap["accepted"], snap["review"], snap["unknown"]) == (0, 1, 0)
    beat = Heartbeat(school="94000701", sent_at=after_midnight, outbox_backlog=0, recognitions=snap)
    assert beat.recognitions.review == 1 and beat.recognitions.day.isoformat() == "2026-12-04"


def test_the_heartbeat_refuses_impossible_counts():
    now = datetime.now(UTC)
    with pytest.raises(ValidationError):
        Heartbeat(school="94000701", sent_at=now, outbox_backlog=0,
                  recognitions={"day": now.date(), "since": now, "accepted": -1, "review": 0, "unknown": 0})
