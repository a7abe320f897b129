"""Typed settings of the `enroll` CLI (environment `ENROLL_*`) and the calibrated duplicate threshold."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge_agent.config import EdgeSettings
from edge_agent.recognition.thresholds import ThresholdsError, load_thresholds
from enrollment_tools.context import EnrollError
from enrollment_tools.templates import embedder_id


class EnrollSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENROLL_", extra="ignore")

    # Only for a school whose thresholds are not calibrated yet; the calibrated value is the default.
    duplicate_threshold: float | None = Field(default=None, ge=0.0, le=1.0)


def thresholds_name(edge: EdgeSettings) -> str:
    """The name the school's embedder has in the thresholds files (mfn -> mobilefacenet)."""
    return {"mfn": "mobilefacenet"}.get(edge.recognition.embedder, edge.recognition.embedder)


def duplicate_threshold(edge: EdgeSettings) -> float:
    override = EnrollSettings().duplicate_threshold
    if override is not None:
        return override
    try:
        thresholds = load_thresholds(edge.paths.thresholds, embedder=thresholds_name(edge))
    except ThresholdsError as exc:
        raise EnrollError(f"chưa có ngưỡng nhận dạng đã hiệu chỉnh ({exc}); chạy hiệu chỉnh "
                          "(benchmarks/accuracy.py --calibrate) hoặc đặt ENROLL_DUPLICATE_THRESHOLD", code=2) from None
    model = embedder_id(settings=edge)
    if thresholds.embedder_sha256 and model.sha256 and thresholds.embedder_sha256 != model.sha256:
        raise EnrollError(f"ngưỡng được hiệu chỉnh cho mô hình {thresholds.embedder}, không phải {model.name}: "
                          "hiệu chỉnh lại trước khi đăng ký", code=2)
    return thresholds.duplicate
