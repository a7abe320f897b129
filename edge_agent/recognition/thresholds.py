"""The calibrated cosine thresholds of recognition (edge_agent/recognition/thresholds.toml), typed and checked.

Each threshold records what it assumes: the per-pair false-accept rate it was set at, on which
evaluation sets, and the gallery size (number of people searched) it is meant for.
`benchmarks/accuracy.py --calibrate` computes the values and writes the file.

Thresholds belong to one embedder: `thresholds.toml` to the default (MobileFaceNet), `thresholds.<name>.toml`
to another (`sface`, and `fusion` for the fused pair, which also records the fusion weight).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PATH = Path(__file__).with_name("thresholds.toml")
DEFAULT_EMBEDDER = "mobilefacenet"


def thresholds_path(embedder: str | None = None) -> Path:
    """The calibrated thresholds file of an embedder (the default one's for None)."""
    if embedder in (None, DEFAULT_EMBEDDER):
        return DEFAULT_PATH
    if not embedder.replace("-", "").replace("_", "").isalnum():
        raise ThresholdsError(f"not an embedder name: {embedder!r}")
    return DEFAULT_PATH.with_name(f"thresholds.{embedder}.toml")


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
    fusion_weight: float | None = Field(default=None, gt=0.0, lt=1.0)  # fused pair only: weight of the first
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


def load_thresholds(path: str | Path | None = None, embedder: str | None = None) -> Thresholds:
    """The thresholds file (default: the calibrated one shipped beside this module for `embedder`).

    With `embedder`, the file must have been calibrated for that embedder."""
    path = Path(path) if path else thresholds_path(embedder)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThresholdsError(f"{path}: cannot read thresholds: {exc}") from exc
    try:
        loaded = Thresholds.model_validate(data)
    except ValidationError as exc:
        raise ThresholdsError(f"{path}: invalid thresholds: {exc}") from exc
    if embedder is not None and loaded.embedder != embedder:
        raise ThresholdsError(f"{path}: calibrated for embedder {loaded.embedder!r}, not {embedder!r}")
    return loaded
