"""Alert rules as data: the defaults (seeded on first use) and their thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import IocAlertRule


@dataclass(frozen=True)
class RuleDef:
    code: str
    label: str
    threshold: float
    unit: str
    low: float     # the admissible range of the threshold
    high: float
    recurring: bool  # True: resolves by itself when the condition clears and may open again later


DEFAULTS = [
    RuleDef("edge_offline", "Máy trạm mất kết nối quá ngưỡng (trong giờ học)", 10, "phút", 1, 1440, True),
    RuleDef("outbox_backlog", "Hàng đợi gửi của máy trạm có sự kiện cũ hơn ngưỡng", 3600, "giây", 60, 604800, True),
    RuleDef("review_doubling", "Tỉ lệ camera gửi xem lại hoặc giáo viên sửa kết quả nhận diện tăng gấp ngưỡng so với "
            "tuần trước", 2, "lần", 1.1, 100, True),
    RuleDef("camera_faces_small", "Camera thấy khuôn mặt quá nhỏ: tỉ lệ vệt gần nhất có khuôn mặt không rộng quá 60 px "
            "vượt ngưỡng (cần chỉnh vị trí camera)", 50, "%", 1, 100, True),
    RuleDef("class_attendance_below", "Lớp có tỉ lệ chuyên cần trong ngày dưới ngưỡng", 80, "%", 1, 100, True),
    RuleDef("student_absent_30", "Học sinh vắng đến ngưỡng số buổi (mức 1)", 30, "buổi", 1, 400, False),
    RuleDef("student_absent_40", "Học sinh vắng đến ngưỡng số buổi (mức 2)", 40, "buổi", 1, 400, False),
    RuleDef("student_absent_45", "Học sinh vắng đến ngưỡng số buổi (giới hạn 45 buổi)", 45, "buổi", 1, 400, False),
    RuleDef("period_not_finalised", "Buổi học chưa chốt điểm danh sau cuối ngày (số lượt học sinh)", 1, "lượt",
            1, 100000, True),
    RuleDef("dropout_streak", "Nguy cơ bỏ học: vắng liên tục đến ngưỡng ngày học", 10, "ngày", 2, 60, False),
    RuleDef("dropout_rising", "Nguy cơ bỏ học: số buổi vắng 10 ngày gần nhất gấp ngưỡng 10 ngày trước", 2, "lần",
            1.1, 20, False),
]
BY_CODE = {r.code: r for r in DEFAULTS}


def ensure_rules(session: Session) -> dict[str, IocAlertRule]:
    """The rule rows, creating any default that is missing (the caller commits)."""
    rows = {r.code: r for r in session.scalars(select(IocAlertRule))}
    for d in DEFAULTS:
        if d.code not in rows:
            rows[d.code] = IocAlertRule(code=d.code, label=d.label, threshold=d.threshold, unit=d.unit, enabled=True,
                                        updated_by="")
            session.add(rows[d.code])
    session.flush()
    return rows


def rule_thresholds(session: Session) -> dict[str, float]:
    """code -> threshold, the stored value or the default."""
    stored = dict(session.execute(select(IocAlertRule.code, IocAlertRule.threshold)).all())
    return {d.code: stored.get(d.code, d.threshold) for d in DEFAULTS}


def check_threshold(code: str, value: float) -> str | None:
    """A Vietnamese error message, or None when `value` is admissible for rule `code`."""
    d = BY_CODE.get(code)
    if d is None:
        return "Không có quy tắc cảnh báo này."
    if not d.low <= value <= d.high:
        return f"Ngưỡng phải trong khoảng {d.low:g}–{d.high:g} {d.unit}."
    return None
