"""The contract's constants, shared field types, strict model base and error."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
TOPIC_PREFIX = "edu/v1"
MAX_PAYLOAD_BYTES = 64 * 1024
SCHOOL_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
STUDENT_ID_RE = r"^[0-9]{12}$"  # the citizen's 12-digit personal identification number (số định danh cá nhân)

SchoolCode = Annotated[str, Field(pattern=SCHOOL_CODE_RE.pattern)]
StudentId = Annotated[str, Field(pattern=STUDENT_ID_RE)]
ShortText = Annotated[str, Field(min_length=1, max_length=64)]


class ProtocolError(ValueError):
    """A message that does not satisfy the contract. `reason` is a short machine code for quarantine."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


def aware_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset")
    return value


def short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)[:500]
