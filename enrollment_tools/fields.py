"""Parsing of the values found in MOET exports and consent forms: ids, dates, gender, consent givers."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from edge_agent.store.tabular import fold

_ID = re.compile(r"^\d{12}$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00)?)?$")
GENDERS = {"nam": "nam", "nu": "nu", "n": "nu", "male": "nam", "female": "nu", "m": "nam", "f": "nu",
           "khac": "khac", "other": "khac"}
GIVERS = {"parent": "parent", "cha me": "parent", "cha/me": "parent", "phu huynh": "parent", "cha": "parent",
          "me": "parent", "nguoi giam ho": "parent", "giam ho": "parent", "cha hoac me": "parent",
          "student": "student", "hoc sinh": "student", "ban than": "student", "hs": "student", "ph": "parent"}
PURPOSES = {"attendance": "attendance", "diem danh": "attendance", "diem danh khuon mat": "attendance",
            "diem danh bang khuon mat": "attendance",
            # learning from sightings a teacher confirmed (edge_agent.recognition.learning.LEARNING_PURPOSE)
            "cai_thien_nhan_dang": "cai_thien_nhan_dang", "cai thien nhan dang": "cai_thien_nhan_dang",
            "cai thien nhan dang khuon mat": "cai_thien_nhan_dang"}


def student_id(text: str) -> str:
    """A 12-digit personal id (spaces and a lost leading zero from Excel are repaired); ValueError if not one."""
    digits = re.sub(r"[\s.]", "", str(text))
    if digits.isdigit() and 9 <= len(digits) < 12:
        digits = digits.zfill(12)  # Excel turns 094208000101 into 94208000101
    if not _ID.match(digits):
        raise ValueError(f"mã định danh '{text}' không phải 12 chữ số")
    return digits


def parse_date(text: str) -> date:
    """dd/mm/yyyy (MOET exports), yyyy-mm-dd, or an Excel date cell; ValueError otherwise."""
    text = str(text).strip()
    if m := _DMY.match(text):
        d, mth, y = (int(g) for g in m.groups())
    elif m := _ISO.match(text):
        y, mth, d = (int(g) for g in m.groups())
    else:
        raise ValueError(f"ngày '{text}' không đúng dạng dd/mm/yyyy")
    try:
        return date(y, mth, d)
    except ValueError:
        raise ValueError(f"ngày '{text}' không tồn tại") from None


def gender(text: str) -> str | None:
    if not str(text).strip():
        return None
    value = GENDERS.get(fold(text))
    if value is None:
        raise ValueError(f"giới tính '{text}' không hợp lệ (Nam/Nữ)")
    return value


def giver(text: str) -> str:
    value = GIVERS.get(fold(text))
    if value is None:
        raise ValueError(f"người đồng ý '{text}' không hợp lệ (phụ huynh hoặc học sinh)")
    return value


def purpose(text: str) -> str:
    if not str(text).strip():
        return "attendance"
    value = PURPOSES.get(fold(text))
    if value is None:
        raise ValueError(f"mục đích '{text}' không được hỗ trợ (chỉ: điểm danh / attendance, "
                         "cải thiện nhận dạng / cai_thien_nhan_dang)")
    return value


def age_on(dob: date, today: date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def today(timezone: str = "Asia/Ho_Chi_Minh") -> date:
    """The school's date (a mini-PC's clock may be kept in UTC: 17:00 UTC is already tomorrow in Vietnam)."""
    return datetime.now(ZoneInfo(timezone)).date()
