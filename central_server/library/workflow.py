"""Appraisal workflow (Circular 21/2017 Art. 7: learning materials are appraised before use).

draft -> submitted -> appraised (named reviewer + comments) -> published -> withdrawn (tombstone).
A reviewer may also return a submitted item to draft with comments; a withdrawn item may be republished.
Pure logic: no database, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTHOR_ROLES = frozenset({"teacher", "school_admin", "province_staff", "province_admin"})
REVIEWER_ROLES = frozenset({"province_staff", "province_admin"})
PUBLISHER_ROLES = frozenset({"province_staff", "province_admin"})


class WorkflowError(ValueError):
    """An action that is not allowed from the item's current state or by this user (message in Vietnamese)."""


@dataclass(frozen=True)
class Transition:
    action: str
    source: frozenset[str]
    target: str
    roles: frozenset[str]
    needs_comment: bool = False


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("submit", frozenset({"draft"}), "submitted", AUTHOR_ROLES),
        Transition("approve", frozenset({"submitted"}), "appraised", REVIEWER_ROLES, needs_comment=True),
        Transition("return", frozenset({"submitted"}), "draft", REVIEWER_ROLES, needs_comment=True),
        Transition("publish", frozenset({"appraised", "withdrawn"}), "published", PUBLISHER_ROLES),
        Transition("withdraw", frozenset({"published"}), "withdrawn", PUBLISHER_ROLES, needs_comment=True),
    )
}

ACTION_LABELS = {
    "submit": "Gửi thẩm định",
    "approve": "Thẩm định đạt",
    "return": "Trả lại để chỉnh sửa",
    "publish": "Xuất bản",
    "withdraw": "Thu hồi",
}

VISIBLE_TO_STUDENTS = frozenset({"published"})
IN_HARVEST = frozenset({"published", "withdrawn"})  # withdrawn ones as deleted-record tombstones
EDITABLE = frozenset({"draft"})


def next_status(current: str, action: str, roles: set[str] | frozenset[str], comment: str | None) -> str:
    """The status after `action`, or WorkflowError saying why it is not allowed."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise WorkflowError(f"Thao tác không hợp lệ: {action!r}")
    if current not in transition.source:
        raise WorkflowError(
            f"Không thể '{ACTION_LABELS[action]}' khi học liệu đang ở trạng thái '{current}'"
        )
    if not set(roles) & transition.roles:
        raise WorkflowError(f"Bạn không có quyền '{ACTION_LABELS[action]}'")
    if transition.needs_comment and not (comment or "").strip():
        raise WorkflowError(f"Cần ghi ý kiến khi '{ACTION_LABELS[action]}'")
    return transition.target


def allowed_actions(current: str, roles: set[str] | frozenset[str]) -> list[str]:
    return [a for a, t in TRANSITIONS.items() if current in t.source and set(roles) & t.roles]
