"""Reconciliation (HTTP, edge -> central): which sequence numbers the central server holds."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge_agent.protocol.base import (
    SchoolCode,
    StrictModel,
)


# ---------------------------------------------------------------- reconciliation (HTTP, edge -> central)
class ReconcileRequest(StrictModel):
    school: SchoolCode
    from_seq: int = Field(ge=1)
    to_seq: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self) -> ReconcileRequest:
        if self.to_seq < self.from_seq or self.to_seq - self.from_seq > 1_000_000:
            raise ValueError("need from_seq <= to_seq and a range of at most 1,000,000")
        return self


class ReconcileResponse(StrictModel):
    school: SchoolCode
    from_seq: int
    to_seq: int
    held: list[tuple[int, int]]   # inclusive ranges of sequence numbers the central server stores
    missing: list[int]            # sequence numbers in [from_seq, to_seq] it does not hold (capped)
    max_seq: int | None           # highest sequence number held for the school
