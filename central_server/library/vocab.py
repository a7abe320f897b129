"""Controlled vocabularies: stable ASCII codes (usable as OAI-PMH setSpecs) and Vietnamese labels."""

from __future__ import annotations

# GDPT 2018 upper-secondary subjects, plus Khmer language and local content (Sóc Trăng).
SUBJECTS: dict[str, str] = {
    "toan": "Toán",
    "ngu-van": "Ngữ văn",
    "tieng-anh": "Tiếng Anh",
    "lich-su": "Lịch sử",
    "dia-li": "Địa lí",
    "gdktpl": "Giáo dục kinh tế và pháp luật",
    "vat-li": "Vật lí",
    "hoa-hoc": "Hoá học",
    "sinh-hoc": "Sinh học",
    "cong-nghe": "Công nghệ",
    "tin-hoc": "Tin học",
    "am-nhac": "Âm nhạc",
    "mi-thuat": "Mĩ thuật",
    "gdtc": "Giáo dục thể chất",
    "gdqpan": "Giáo dục quốc phòng và an ninh",
    "hdtn": "Hoạt động trải nghiệm, hướng nghiệp",
    "tieng-khmer": "Tiếng Khmer",
    "dia-phuong": "Nội dung giáo dục địa phương",
    "khac": "Khác",
}

GRADES: tuple[int, ...] = (10, 11, 12)

# material type -> (Vietnamese label, DCMI Type vocabulary term)
MATERIAL_TYPES: dict[str, tuple[str, str]] = {
    "bai-giang": ("Bài giảng điện tử / trình chiếu", "Text"),
    "sach-giao-khoa": ("Sách giáo khoa điện tử", "Text"),
    "video": ("Video bài giảng", "MovingImage"),
    "ngan-hang-cau-hoi": ("Ngân hàng câu hỏi", "Dataset"),
    "mo-phong": ("Mô phỏng, thí nghiệm ảo", "InteractiveResource"),
    "tai-lieu-tham-khao": ("Tài liệu tham khảo", "Text"),
    "hinh-anh": ("Hình ảnh, bản đồ", "StillImage"),
    "sach": ("Sách, ấn phẩm thư viện", "Text"),
}

# ISO 639-1 code -> (Vietnamese label, MARC/ISO 639-2 code)
LANGUAGES: dict[str, tuple[str, str]] = {
    "vi": ("Tiếng Việt", "vie"),
    "km": ("Tiếng Khmer", "khm"),
    "en": ("Tiếng Anh", "eng"),
}
MARC_TO_LANGUAGE = {marc: code for code, (_, marc) in LANGUAGES.items()}

LICENCES: dict[str, str] = {
    "cc-by-4.0": "CC BY 4.0",
    "cc-by-sa-4.0": "CC BY-SA 4.0",
    "cc-by-nc-4.0": "CC BY-NC 4.0",
    "cc-by-nc-sa-4.0": "CC BY-NC-SA 4.0",
    "public-domain": "Phạm vi công cộng",
    "moet": "Bản quyền Bộ Giáo dục và Đào tạo",
    "all-rights-reserved": "Giữ bản quyền; đã được tác giả cho phép sử dụng",
}

STATUSES: dict[str, str] = {
    "draft": "Bản nháp",
    "submitted": "Chờ thẩm định",
    "appraised": "Đã thẩm định",
    "published": "Đã xuất bản",
    "withdrawn": "Đã thu hồi",
}

KINDS: dict[str, str] = {"material": "Học liệu số", "title": "Ấn phẩm thư viện"}
