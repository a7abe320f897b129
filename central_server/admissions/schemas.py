"""Request data of the admissions pages: the registration form, validated with readable Vietnamese errors."""

from __future__ import annotations

import datetime as dt
import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .plan import AdmissionPlan


class ApplicationForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    personal_id: str = Field(pattern=r"^\d{12}$")
    full_name: str = Field(min_length=2, max_length=120)
    dob: dt.date
    gender: str = Field(default="", max_length=8)
    ethnicity: str = Field(default="", max_length=40)
    phone: str = Field(default="", pattern=r"^(\+?\d{9,15})?$")
    lower_secondary: str = Field(min_length=2, max_length=200)
    commune: str = Field(default="", max_length=10)
    residence_months: int = Field(default=0, ge=0, le=240)
    priority: list[str] = []
    prizes: list[str] = []
    direct_group: str = ""
    dtnt_request: bool = False
    aspirations: list[str] = []
    specialised: list[str] = []

    @field_validator("full_name")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return unicodedata.normalize("NFC", " ".join(v.split()))

    def check_against(self, plan: AdmissionPlan) -> list[str]:
        """Errors (Vietnamese, shown to the applicant) against this year's plan."""
        errs = []
        schools = {s.code for s in plan.schools}
        nvs = [a for a in self.aspirations if a]
        if not nvs and not self.specialised:
            errs.append("Cần chọn ít nhất một nguyện vọng.")
        if len(nvs) > plan.aspiration_count:
            errs.append(f"Chỉ được đăng ký tối đa {plan.aspiration_count} nguyện vọng.")
        if len(set(nvs)) != len(nvs):
            errs.append("Mỗi trường chỉ được chọn một lần.")
        if any(n not in schools for n in nvs):
            errs.append("Có trường không thuộc danh sách tuyển sinh.")
        classes = {c.code for c in plan.specialised_classes()}
        if any(c not in classes for c in self.specialised):
            errs.append("Có lớp chuyên không thuộc danh sách tuyển sinh.")
        if any(p not in {g.code for g in plan.priority_groups} for p in self.priority):
            errs.append("Diện ưu tiên không hợp lệ.")
        if any(p not in {g.code for g in plan.prizes} for p in self.prizes):
            errs.append("Giải khuyến khích không hợp lệ.")
        if self.direct_group and self.direct_group not in {g.code for g in plan.direct_groups}:
            errs.append("Diện tuyển thẳng không hợp lệ.")
        age = plan.year - self.dob.year
        if not 13 <= age <= 25:
            errs.append("Ngày sinh không hợp lệ cho tuyển sinh lớp 10.")
        return errs


FIELD_LABELS = {"personal_id": "Số định danh cá nhân (12 chữ số)", "full_name": "Họ và tên", "dob": "Ngày sinh",
                "phone": "Số điện thoại", "lower_secondary": "Trường THCS", "residence_months": "Số tháng thường trú"}
