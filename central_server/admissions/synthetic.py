"""A province-sized synthetic admission (plan + applicant pool) shaped like Sóc Trăng's, for tests,
benchmarks and policy simulation. Seeded, so every run builds the same pool.

Shape (2022-23 figures): one chuyên school (345 places in chuyên classes), one DTNT school (350),
37 THPT / multi-level schools with quotas 120-650 summing to 12,060; ~12,800 candidates; 192 direct
admissions; papers Literature 120', Math 120', English 60'; Khmer ≈ 31 % of candidates.
"""

from __future__ import annotations

import random

from .scoring import Applicant

SUBJECTS = [
    {"code": "van", "name": "Ngữ văn", "minutes": 120, "role": "literature"},
    {"code": "toan", "name": "Toán", "minutes": 120, "role": "math"},
    {"code": "anh", "name": "Tiếng Anh", "minutes": 60, "role": "third"},
]
CHUYEN = ["toan", "van", "anh", "ly", "hoa", "sinh", "tin", "su", "dia", "khmer"]
# the subjects' names as applicants read them (with their diacritics)
CHUYEN_NAMES = {"toan": "Toán", "van": "Ngữ văn", "anh": "Tiếng Anh", "ly": "Vật lí", "hoa": "Hoá học",
                "sinh": "Sinh học", "tin": "Tin học", "su": "Lịch sử", "dia": "Địa lí", "khmer": "Tiếng Khmer"}


def plan_dict(year: int = 2025, n_regular: int = 37, regular_total: int = 12060, seed: int = 7) -> dict:
    rng = random.Random(seed)
    quotas = _split(rng, regular_total, n_regular, 120, 650)
    schools = [{"code": "NTMK", "name": "THPT chuyên Nguyễn Thị Minh Khai", "quota": 0, "kind": "specialised",
                "specialised_classes": [
                    {"code": f"C_{c}", "name": f"Chuyên {CHUYEN_NAMES[c]}", "quota": q, "paper": f"chuyen_{c}",
                     "weights": {"van": 1, "toan": 1, "anh": 1, f"chuyen_{c}": 2}}
                    for c, q in zip(CHUYEN, _split(rng, 345, len(CHUYEN), 30, 40), strict=True)]},
               {"code": "DTNT_HC", "name": "THPT DTNT Huỳnh Cương", "quota": 350, "kind": "dtnt"}]
    schools += [{"code": f"ST{i + 1:02d}", "name": f"Trường THPT số {i + 1}", "quota": q}
                for i, q in enumerate(quotas)]
    return {
        "year": year, "method": "thi_tuyen", "subjects": SUBJECTS,
        "previous_third_subjects": {str(year - 1): "anh", str(year - 2): "anh"},
        "schools": schools, "aspiration_count": 3,
        "aspiration_rule": {"kind": "offsets", "offsets": [0, 1, 2]},
        "tie_break": [{"key": "priority_points", "label": "Điểm ưu tiên"},
                      {"key": "subject:toan", "label": "Điểm Toán"},
                      {"key": "subject:van", "label": "Điểm Ngữ văn"},
                      {"key": "attr:thcs_average", "label": "Điểm TB lớp 9"}],
        "tie_exhausted": "admit_all",
        "priority_groups": [{"code": "1", "points": 2.0, "label": "Nhóm 1"},
                            {"code": "2", "points": 1.5, "label": "Nhóm 2"},
                            {"code": "3", "points": 1.0, "label": "Nhóm 3"}],
        "prizes": [{"code": "nhat", "points": 1.5, "label": "Giải Nhất"},
                   {"code": "nhi", "points": 1.0, "label": "Giải Nhì"},
                   {"code": "ba", "points": 0.5, "label": "Giải Ba"}],
        "direct_groups": [{"code": "dtnt_thcs", "label": "Học sinh trường PTDTNT THCS"},
                          {"code": "rat_it_nguoi", "label": "Dân tộc rất ít người"},
                          {"code": "khuyet_tat", "label": "Học sinh khuyết tật"},
                          {"code": "giai_quoc_gia", "label": "Giải quốc gia"},
                          {"code": "giai_quoc_te", "label": "Giải quốc tế"}],
        "dtnt": {"schools": ["DTNT_HC"], "min_residence_months": 36, "communes": ["94001", "94002", "94003"],
                 "majority_ethnicity": "Kinh", "majority_max_share": 0.10},
        "dates": {"registration_open": f"{year}-04-01T07:00:00+07:00",
                  "registration_close": f"{year}-04-30T17:00:00+07:00",
                  "change_open": f"{year}-05-05T07:00:00+07:00", "change_close": f"{year}-05-10T17:00:00+07:00",
                  "exam_start": f"{year}-05-31T07:00:00+07:00", "exam_end": f"{year}-06-02T11:00:00+07:00",
                  "publication": f"{year}-06-20T08:00:00+07:00"},
    }


def _split(rng: random.Random, total: int, n: int, lo: int, hi: int) -> list[int]:
    """n integers in [lo, hi] summing to total (deterministic for a seeded rng)."""
    vals = [rng.randint(lo, hi) for _ in range(n)]
    while sum(vals) != total:
        i = rng.randrange(n)
        step = 1 if sum(vals) < total else -1
        if lo <= vals[i] + step <= hi:
            vals[i] += step
    return vals


def _paper(rng: random.Random, ability: float) -> float:
    return min(10.0, max(0.25, round(rng.gauss(ability, 1.6) * 4) / 4))


def applicants(plan: dict, n: int = 12800, seed: int = 11, direct: int = 192) -> list[Applicant]:
    """A seeded applicant pool: aspirations cluster around a home school, popular schools attract more."""
    rng = random.Random(seed)
    regular = [s["code"] for s in plan["schools"] if s.get("kind", "regular") == "regular"]
    classes = [c["code"] for s in plan["schools"] for c in s.get("specialised_classes", [])]
    out = []
    for i in range(n):
        ability = rng.gauss(5.6, 1.5)
        eth = rng.choices(["Kinh", "Khmer", "Hoa"], weights=[65, 31, 4])[0]
        scores: dict[str, float | None] = {s["code"]: _paper(rng, ability) for s in plan["subjects"]}
        r = rng.random()
        if r < 0.01:
            scores[rng.choice(list(scores))] = None
        elif r < 0.015:
            scores[rng.choice(list(scores))] = 0.0
        home = rng.randrange(len(regular))
        near = [regular[(home + d) % len(regular)] for d in (0, 1, -1, 2, -2, 3)]
        nv = rng.sample(near, 3)
        if ability > 7 and rng.random() < 0.5:
            nv[0] = regular[rng.randrange(3)]  # ambitious candidates aim at the big city schools
            nv = list(dict.fromkeys(nv))
        dtnt_ok = eth != "Kinh" and rng.random() < 0.12 or eth == "Kinh" and rng.random() < 0.01
        if dtnt_ok and rng.random() < 0.8:
            nv = ["DTNT_HC", *[c for c in nv if c != "DTNT_HC"]][:3]
        spec: tuple[str, ...] = ()
        if ability > 6.5 and rng.random() < 0.35 and classes:
            spec = tuple(rng.sample(classes, rng.choice([1, 2])))
            for c in spec:
                scores[f"chuyen_{c.removeprefix('C_')}"] = _paper(rng, ability)
        prio: tuple[str, ...] = ()
        if eth != "Kinh" or rng.random() < 0.1:
            prio = ("3",)
        if rng.random() < 0.02:
            prio += (rng.choice(["1", "2"]),)
        prizes = tuple(rng.sample(["nhat", "nhi", "ba"], rng.choice([1, 2]))) if rng.random() < 0.03 else ()
        out.append(Applicant(
            id=f"TS{i + 1:05d}", scores=scores, aspirations=tuple(nv[:plan["aspiration_count"]]),
            specialised=spec, priority=prio, prizes=prizes, cancelled=rng.random() < 0.002,
            direct="khuyet_tat" if i < direct else None, dtnt_eligible=dtnt_ok, ethnicity=eth,
            attrs={"thcs_average": round(min(10.0, max(3.0, rng.gauss(ability + 1.2, 0.8))), 1)}))
    return out
