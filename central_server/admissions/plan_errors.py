"""Problems in an admission plan, said in Vietnamese with the field they concern (the plan form's messages)."""

from __future__ import annotations

from pydantic import ValidationError

SECTIONS = {"schools": "Trường", "subjects": "Môn thi", "priority_groups": "Diện ưu tiên", "prizes": "Giải",
            "direct_groups": "Diện tuyển thẳng", "tie_break": "Tiêu chí xét hoà điểm",
            "specialised_classes": "Lớp chuyên"}
FIELDS = {
    "year": "Năm tuyển sinh", "method": "Phương thức", "aspiration_count": "Số nguyện vọng",
    "aspiration_rule": "Quy tắc nguyện vọng", "offsets": "Điểm cộng thêm của NV2, NV3…", "kind": "Loại",
    "tie_exhausted": "Khi hết tiêu chí hoà điểm", "priority_combine": "Cách cộng điểm ưu tiên",
    "prize_combine": "Cách cộng điểm khuyến khích", "direct_in_quota": "Tuyển thẳng tính vào chỉ tiêu",
    "code": "Mã", "name": "Tên", "quota": "Chỉ tiêu", "minutes": "Thời gian (phút)", "role": "Vai trò",
    "points": "Điểm", "label": "Tên hiển thị", "dates": "Lịch tuyển sinh",
    "registration_open": "Mở đăng ký", "registration_close": "Đóng đăng ký", "change_open": "Mở điều chỉnh NV",
    "change_close": "Đóng điều chỉnh NV", "exam_start": "Ngày thi đầu", "exam_end": "Ngày thi cuối",
    "publication": "Công bố kết quả", "eligibility": "Điều kiện xét", "min_total": "Điểm tối thiểu",
    "dtnt": "Quy định DTNT", "max_score_per_subject": "Điểm tối đa mỗi môn", "score_step": "Bước điểm",
}
MESSAGES = {
    "missing": "chưa nhập", "int_parsing": "phải là số nguyên", "int_from_float": "phải là số nguyên",
    "float_parsing": "phải là số", "greater_than_equal": "phải lớn hơn hoặc bằng {ge}",
    "greater_than": "phải lớn hơn {gt}", "less_than_equal": "phải nhỏ hơn hoặc bằng {le}",
    "string_too_short": "chưa nhập", "too_short": "cần ít nhất {min_length} dòng",
    "string_pattern_mismatch": "chỉ gồm chữ không dấu, chữ số và các dấu _ . -",
    "literal_error": "phải là một trong: {expected}", "datetime_from_date_parsing": "không phải ngày giờ hợp lệ",
    "datetime_parsing": "không phải ngày giờ hợp lệ", "bool_parsing": "phải là có/không",
    "extra_forbidden": "không có trong mẫu kế hoạch", "dict_type": "sai dạng", "list_type": "sai dạng",
}
# the plan's own consistency rules (plan.py), in Vietnamese
RULES = [
    ("school codes must be unique", "Mã trường bị trùng."),
    ("specialised class codes must be unique", "Mã lớp chuyên bị trùng hoặc trùng mã trường."),
    ("offsets rule needs", "Quy tắc nguyện vọng: cần đúng một điểm cộng thêm cho mỗi nguyện vọng, bắt đầu bằng 0."),
    ("aspiration offsets must not decrease", "Điểm cộng thêm của các nguyện vọng không được giảm dần."),
    ("names an unknown subject", "Tiêu chí xét hoà điểm nêu một môn thi không có trong kế hoạch."),
    ("group codes must be unique", "Mã diện ưu tiên / giải / tuyển thẳng bị trùng."),
    ("DTNT rules name unknown schools", "Quy định DTNT nêu trường không có trong danh sách trường."),
    ("third subject", "Môn thi thứ ba đã dùng 3 năm liền trước đó; hãy chọn môn khác (Thông tư 30/2024)."),
    ("subject codes must be unique", "Mã môn thi bị trùng."),
    ("paper must last", "Thời gian làm bài không đúng Thông tư 30/2024 (Ngữ văn 120; Toán 90/120; môn thứ ba 60/90)."),
    ("at most one third subject", "Chỉ được một môn thi thứ ba hoặc một bài thi tổ hợp."),
    ("must not be after", "Các mốc trong lịch tuyển sinh phải theo đúng thứ tự."),
]


def _where(loc: tuple) -> str:
    parts, i = [], 0
    while i < len(loc):
        key = loc[i]
        if key in SECTIONS and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            parts.append(f"{SECTIONS[key]}, dòng {loc[i + 1] + 1}")
            i += 2
            continue
        if isinstance(key, str) and key in SECTIONS:
            parts.append(SECTIONS[key])
        elif isinstance(key, str) and key in FIELDS:
            parts.append(FIELDS[key])
        elif isinstance(key, str) and key:
            parts.append(key)
        i += 1
    return " — ".join(parts) or "Kế hoạch"


def rule_message(text: str) -> str:
    """A consistency rule's English message from plan.py, in Vietnamese (the original when unknown)."""
    return next((vi for en, vi in RULES if en in text), text)


def vietnamese(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        kind, ctx = err.get("type", ""), err.get("ctx") or {}
        if kind == "value_error":
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            where = _where(tuple(err.get("loc", ())))
            out.extend(f"{where}: {rule_message(part)}" if where != "Kế hoạch" else rule_message(part)
                       for part in msg.split("; "))
            continue
        template = MESSAGES.get(kind)
        ctx = {k: str(v).replace(" or ", ", ") for k, v in ctx.items()}
        text = template.format(**ctx) if template else str(err.get("msg", ""))
        out.append(f"{_where(tuple(err.get('loc', ())))}: {text}")
    return list(dict.fromkeys(out))
