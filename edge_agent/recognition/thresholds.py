"""The calibrated cosine thresholds of recognition (edge_agent/recognition/thresholds.toml), typed and checked.

Each threshold records what it assumes: the per-pair false-accept rate it was set at, on which
evaluation sets, and the gallery size (number of people searched) it is meant for.
`benchmarks/accuracy.py --calibrate` computes the values and writes the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PATH = Path(__file__).with_name("thresholds.toml")


class ThresholdInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=-1.0, le=2.0)
    far: float | None = Field(default=None, ge=0.0, le=1.0)  # per-pair false-accept rate it was set at
    gallery_size: int | None = Field(default=None, ge=1)  # people searched at once it assumes
    basis: str = ""  # how it was chosen, on which sets


class Thresholds(BaseModel):
    """Cosine thresholds: `accept` (roster), `review` (unknown below), `margin` over the best other
    student, `strict` (whole-school search) and `duplicate` (enrolment duplicate check)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calibrated_on: str
    embedder: str
    embedder_sha256: str
    accept_info: ThresholdInfo = Field(alias="accept")
    review_info: ThresholdInfo = Field(alias="review")
    margin_info: ThresholdInfo = Field(alias="margin")
    strict_info: ThresholdInfo = Field(alias="strict")
    duplicate_info: ThresholdInfo = Field(alias="duplicate")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.review <= self.accept <= self.strict:
            raise ValueError(f"need review <= accept <= strict, got {self.review}, {self.accept}, {self.strict}")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"margin {self.margin} must be in [0, 1]")
        return self

    @property
    def accept(self) -> float:
        return self.accept_info.value

    @property
    def review(self) -> float:
        return self.review_info.value

    @property
    def unknown(self) -> float:
        """Alias of `review`: below it a face is a stranger."""
        return self.review_info.value

    @property
    def margin(self) -> float:
        return self.margin_info.value

    @property
    def strict(self) -> float:
        return self.strict_info.value

    @property
    def strict_whole_school(self) -> float:
        return self.strict_info.value

    @property
    def duplicate(self) -> float:
        return self.duplicate_info.value


class ThresholdsError(ValueError):
    pass


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """The thresholds file (default: the calibrated one shipped beside this module)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThresholdsError(f"{path}: cannot read thresholds: {exc}") from exc
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        raise ThresholdsError(f"{path}: invalid thresholds: {exc}") from exc
