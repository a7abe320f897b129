"""The indicator catalogue: each tile's key, Vietnamese label, format and group (what the pages draw)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TileDef:
    key: str
    label: str
    fmt: str          # int | pct | dec
    group: str
    province_only: bool = False
    better: str = ""  # "up" | "down": which way the trend is good


TILES = [
    TileDef("schools", "Số trường", "int", "Quy mô (TT 03/2024)", province_only=True),
    TileDef("classes", "Số lớp", "int", "Quy mô (TT 03/2024)"),
    TileDef("students", "Số học sinh", "int", "Quy mô (TT 03/2024)"),
    TileDef("teachers", "Số giáo viên", "int", "Quy mô (TT 03/2024)"),
    TileDef("students_per_class", "Học sinh / lớp", "dec", "Quy mô (TT 03/2024)"),
    TileDef("rate_day", "Chuyên cần (ngày)", "pct", "Chuyên cần", better="up"),
    TileDef("p_rate_day", "Vắng có phép (ngày)", "pct", "Chuyên cần", better="down"),
    TileDef("k_rate_day", "Vắng không phép (ngày)", "pct", "Chuyên cần", better="down"),
    TileDef("rate_week", "Chuyên cần (tuần)", "pct", "Chuyên cần", better="up"),
    TileDef("p_rate_week", "Vắng có phép (tuần)", "pct", "Chuyên cần", better="down"),
    TileDef("k_rate_week", "Vắng không phép (tuần)", "pct", "Chuyên cần", better="down"),
    TileDef("rate_month", "Chuyên cần (tháng)", "pct", "Chuyên cần", better="up"),
    TileDef("p_rate_month", "Vắng có phép (tháng)", "pct", "Chuyên cần", better="down"),
    TileDef("k_rate_month", "Vắng không phép (tháng)", "pct", "Chuyên cần", better="down"),
    TileDef("absent_30", "HS vắng từ 30 buổi", "int", "Nguy cơ", better="down"),
    TileDef("absent_40", "HS vắng từ 40 buổi", "int", "Nguy cơ", better="down"),
    TileDef("absent_over_limit", "HS vắng quá 45 buổi", "int", "Nguy cơ", better="down"),
    TileDef("dropout_streak", "Nguy cơ bỏ học: vắng liên tục", "int", "Nguy cơ", better="down"),
    TileDef("dropout_rising", "Nguy cơ bỏ học: vắng tăng", "int", "Nguy cơ", better="down"),
    TileDef("on_time_share", "Chốt điểm danh đúng ngày (28 ngày)", "pct", "Hệ thống điểm danh", better="up"),
    TileDef("correction_share", "Tỉ lệ GV sửa nhận diện (tuần)", "pct", "Hệ thống điểm danh", better="down"),
    TileDef("unfinalised_past", "Lượt chưa chốt (7 ngày qua)", "int", "Hệ thống điểm danh", better="down"),
    TileDef("quarantined_7d", "Sự kiện bị cách ly (7 ngày)", "int", "Hệ thống điểm danh", better="down"),
    TileDef("adm_applications", "Hồ sơ tuyển sinh lớp 10", "int", "Tuyển sinh", province_only=True),
    TileDef("adm_today", "Đăng ký hôm nay", "int", "Tuyển sinh", province_only=True),
    TileDef("adm_results_published", "Đợt kết quả đã công bố", "int", "Tuyển sinh", province_only=True),
    TileDef("lib_published", "Học liệu đã xuất bản", "int", "Thư viện số"),
    TileDef("lib_views", "Lượt xem học liệu", "int", "Thư viện số"),
    TileDef("lib_downloads", "Lượt tải học liệu", "int", "Thư viện số"),
    TileDef("lib_searches", "Lượt tìm kiếm học liệu", "int", "Thư viện số"),
    TileDef("sig_completed", "Văn bản đã ký xong", "int", "Ký số"),
    TileDef("sig_waiting", "Văn bản đang chờ ký", "int", "Ký số", better="down"),
    TileDef("target_face_share", "Trường dùng điểm danh khuôn mặt hằng ngày", "pct", "Mục tiêu 2025",
            province_only=True, better="up"),
    TileDef("target_signed_share", "Sổ điểm danh đã ký số", "pct", "Mục tiêu 2025", province_only=True, better="up"),
    TileDef("target_digital_records", "HS có hồ sơ số (mã định danh + mã HS)", "pct", "Mục tiêu 2025", better="up"),
]
BY_KEY = {t.key: t for t in TILES}
# counts of students that the public view suppresses under the minimum cell size
STUDENT_COUNTS = ("students", "absent_30", "absent_40", "absent_over_limit", "dropout_streak", "dropout_rising")
PUBLIC_KEYS = ("classes", "students", "students_per_class", "rate_week", "p_rate_week", "k_rate_week", "rate_month",
               "absent_30", "absent_40", "absent_over_limit")
