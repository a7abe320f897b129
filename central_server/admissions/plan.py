"""The yearly admission plan: every rule of a grade-10 admission as one validated, versioned document.

Nothing about a particular year is hard-coded in the engine: method, subjects, the third subject,
quotas, the aspiration rule, the tie-break chain, bonus points, direct-admission groups, the DTNT
rules and the dates are all read from an `AdmissionPlan`. The only constants here are the limits
that Circular 30/2024 itself puts on any province's plan (`Circular30`), which a plan is checked against.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]


class PlanError(ValueError):
    """A plan document that does not validate; `errors` lists each problem as a readable line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


class Circular30:
    """Limits Circular 30/2024 sets on every provincial plan (not province rules: those live in the plan)."""

    literature_minutes = (120,)
    math_minutes = (90, 120)
    third_subject_minutes = (60, 90)
    combined_test_minutes = (90, 120)
    max_consecutive_third_subject_years = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Subject(_Strict):
    code: Code
    name: str = Field(min_length=1)
    minutes: int = Field(gt=0)
    role: Literal["literature", "math", "third", "combined"]


class SpecialisedClass(_Strict):
    """A chuyên class: admitted first, ranked on its own weighted score (weights allowed only here)."""

    code: Code
    name: str
    quota: int = Field(gt=0)
    paper: Code = Field(description="code of the specialised paper, e.g. chuyen_toan")
    minutes: int = Field(default=150, gt=0)
    weights: dict[str, float] = Field(min_length=1, description="common subject or this class's paper -> coefficient")
    add_bonuses: bool = False


class School(_Strict):
    code: Code
    moet_code: str = Field(default="", max_length=32, description="the MOET school code (masterdata `schools.code`) "
                           "when `code` is not that code itself: which school's staff review these applications")
    name: str = Field(min_length=1)
    quota: int = Field(ge=0, description="regular grade-10 places")
    kind: Literal["regular", "specialised", "dtnt"] = "regular"
    specialised_classes: list[SpecialisedClass] = []


class AspirationRule(_Strict):
    """`offsets`: NVk needs the school's NV1 cutoff + offsets[k-1] (offsets[0] must be 0).
    `monotone`: the cutoff of a later aspiration is never below an earlier one's at the same school."""

    kind: Literal["offsets", "monotone"]
    offsets: list[float] = []


class TieCriterion(_Strict):
    """One link of the tie-break chain: `priority_points`, `encouragement_points`, `bonus_points`,
    `subject:<code>`, `sum_subjects` or `attr:<name>` (a numeric applicant attribute, e.g. THCS average)."""

    key: str = Field(pattern=r"^(priority_points|encouragement_points|bonus_points|sum_subjects|"
                             r"subject:[A-Za-z0-9_.-]+|attr:[A-Za-z0-9_.-]+)$")
    order: Literal["desc", "asc"] = "desc"
    label: str = ""


class PointGroup(_Strict):
    code: Code
    points: float = Field(ge=0, le=10)
    label: str = ""


class DirectGroup(_Strict):
    code: Code
    label: str
    evidence: list[str] = []


class DtntRules(_Strict):
    schools: list[Code] = []
    min_residence_months: int = Field(ge=0)
    communes: list[str] = Field(default=[], description="designated disadvantaged commune codes")
    very_small_groups: list[str] = []
    majority_ethnicity: str = "Kinh"
    majority_max_share: float = Field(ge=0, le=1)


class Eligibility(_Strict):
    exclude_missing_paper: bool = True
    exclude_zero_paper: bool = True
    exclude_cancelled: bool = True
    min_total: float = 0.0


class Dates(_Strict):
    registration_open: datetime
    registration_close: datetime
    change_open: datetime
    change_close: datetime
    exam_start: datetime
    exam_end: datetime
    publication: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Dates:
        seq = ["registration_open", "registration_close", "change_open", "change_close", "exam_start",
               "exam_end", "publication"]
        for a, b in zip(seq, seq[1:], strict=False):
            if getattr(self, a) > getattr(self, b):
                raise ValueError(f"date {a} must not be after {b}")
        return self


class AdmissionPlan(_Strict):
    year: int = Field(ge=2020, le=2100)
    method: Literal["thi_tuyen", "xet_tuyen", "ket_hop"]
    subjects: list[Subject] = Field(min_length=1)
    max_score_per_subject: float = Field(default=10.0, gt=0)
    score_step: float = Field(default=0.25, gt=0)
    previous_third_subjects: dict[int, str] = Field(
        default={}, description="year -> third-subject code of earlier years (filled from stored plans)")
    schools: list[School] = Field(min_length=1)
    aspiration_count: int = Field(ge=1, le=10)
    aspiration_rule: AspirationRule
    tie_break: list[TieCriterion] = []
    tie_exhausted: Literal["admit_all", "reject_all"] = "admit_all"
    priority_groups: list[PointGroup] = []
    priority_combine: Literal["max", "sum"] = "max"
    prizes: list[PointGroup] = []
    prize_combine: Literal["max", "sum"] = "max"
    direct_groups: list[DirectGroup] = []
    direct_in_quota: bool = True
    dtnt: DtntRules | None = None
    eligibility: Eligibility = Eligibility()
    dates: Dates

    # ----- derived helpers -------------------------------------------------------------------
    @property
    def subject_codes(self) -> list[str]:
        return [s.code for s in self.subjects]

    @property
    def third_subject(self) -> str | None:
        return next((s.code for s in self.subjects if s.role in ("third", "combined")), None)

    def school(self, code: str) -> School:
        for s in self.schools:
            if s.code == code:
                return s
        raise KeyError(code)

    def specialised_classes(self) -> list[SpecialisedClass]:
        return [c for s in self.schools for c in s.specialised_classes]

    # ----- validation -----------------------------------------------------------------------
    @field_validator("subjects")
    @classmethod
    def _subjects(cls, subjects: list[Subject]) -> list[Subject]:
        codes = [s.code for s in subjects]
        if len(set(codes)) != len(codes):
            raise ValueError("subject codes must be unique")
        allowed = {"literature": Circular30.literature_minutes, "math": Circular30.math_minutes,
                   "third": Circular30.third_subject_minutes, "combined": Circular30.combined_test_minutes}
        for s in subjects:
            if s.minutes not in allowed[s.role]:
                raise ValueError(f"{s.code}: {s.role} paper must last {allowed[s.role]} minutes, not {s.minutes}")
        roles = [s.role for s in subjects]
        if sum(r in ("third", "combined") for r in roles) > 1:
            raise ValueError("at most one third subject or combined test")
        return subjects

    @model_validator(mode="after")
    def _consistent(self) -> AdmissionPlan:
        errs: list[str] = []
        codes = [s.code for s in self.schools]
        if len(set(codes)) != len(codes):
            errs.append("school codes must be unique")
        cls_codes = [c.code for c in self.specialised_classes()]
        if len(set(cls_codes)) != len(cls_codes) or set(cls_codes) & set(codes):
            errs.append("specialised class codes must be unique and differ from school codes")
        papers = set(self.subject_codes)
        for c in self.specialised_classes():
            unknown = set(c.weights) - papers - {c.paper}
            if unknown:
                errs.append(f"class {c.code}: weights name unknown papers {sorted(unknown)}")
        rule = self.aspiration_rule
        if rule.kind == "offsets":
            if len(rule.offsets) != self.aspiration_count or (rule.offsets and rule.offsets[0] != 0):
                errs.append(f"offsets rule needs {self.aspiration_count} offsets starting with 0")
            elif any(b < a for a, b in zip(rule.offsets, rule.offsets[1:], strict=False)):
                errs.append("aspiration offsets must not decrease")
        for crit in self.tie_break:
            if crit.key.startswith("subject:") and crit.key.split(":", 1)[1] not in papers:
                errs.append(f"tie-break criterion {crit.key} names an unknown subject")
        for name, groups in (("priority", self.priority_groups), ("prize", self.prizes),
                             ("direct", self.direct_groups)):
            gc = [g.code for g in groups]
            if len(set(gc)) != len(gc):
                errs.append(f"{name} group codes must be unique")
        if self.dtnt:
            bad = [c for c in self.dtnt.schools if c not in codes]
            if bad:
                errs.append(f"DTNT rules name unknown schools {bad}")
        third = self.third_subject
        limit = Circular30.max_consecutive_third_subject_years
        if third and self.method != "xet_tuyen":
            prev = [self.previous_third_subjects.get(self.year - i) for i in range(1, limit + 1)]
            if all(p == third for p in prev):
                errs.append(f"third subject {third!r} was used in the {limit} previous consecutive years "
                            f"({self.year - limit}-{self.year - 1}); choose another")
        if errs:
            raise ValueError("; ".join(errs))
        return self

    # ----- scoring --------------------------------------------------------------------------
    def priority_points(self, groups: list[str] | tuple[str, ...]) -> float:
        return _combine(self.priority_groups, groups, self.priority_combine)

    def encouragement_points(self, prizes: list[str] | tuple[str, ...]) -> float:
        return _combine(self.prizes, prizes, self.prize_combine)


def _combine(table: list[PointGroup], codes, how: str) -> float:
    points = {g.code: g.points for g in table}
    unknown = [c for c in codes if c not in points]
    if unknown:
        raise KeyError(f"unknown group/prize codes {unknown}")
    values = [points[c] for c in codes]
    if not values:
        return 0.0
    return max(values) if how == "max" else sum(values)


def parse_plan(data: dict | str | bytes, history: dict[int, str] | None = None) -> AdmissionPlan:
    """Validate a plan (dict or JSON text); `history` (year -> third subject) from stored plans is merged in.
    Raises PlanError with one readable line per problem."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PlanError([f"not valid JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise PlanError(["a plan must be a JSON object"])
    if history:
        merged = {int(k): v for k, v in (data.get("previous_third_subjects") or {}).items()}
        merged.update(history)
        data = {**data, "previous_third_subjects": merged}
    try:
        return AdmissionPlan.model_validate(data)
    except ValidationError as exc:
        raise PlanError([_fmt(e) for e in exc.errors()]) from exc


def load_plan(path: str | Path) -> AdmissionPlan:
    """Read a plan from a .json or .toml file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError([f"không đọc được tệp kế hoạch {path}: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError([f"tệp kế hoạch {path} không phải UTF-8 (byte lỗi ở vị trí {exc.start}): "
                         "hãy lưu lại với mã UTF-8"]) from None
    if path.suffix.lower() == ".toml":
        try:
            return parse_plan(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise PlanError([f"not valid TOML: {exc}"]) from exc
    return parse_plan(text)


def _fmt(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "plan"
    msg = err.get("msg", "invalid")
    return f"{loc}: {msg.removeprefix('Value error, ')}"
