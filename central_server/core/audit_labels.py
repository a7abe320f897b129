"""Vietnamese names of audit actions, outcomes and roles, for the audit log page (the log stores the codes)."""

from __future__ import annotations

ACTIONS = {
    "auth.login": "Đăng nhập",
    "ioc.alert.open": "Mở cảnh báo", "ioc.alert.ack": "Xác nhận đã biết cảnh báo",
    "ioc.alert.resolve": "Đóng cảnh báo", "ioc.rule.update": "Sửa ngưỡng cảnh báo",
    "ioc.api.read": "IOC thành phố đọc số liệu", "ioc.api.denied": "Từ chối truy cập API IOC",
    "ioc.api.limited": "Giới hạn tần suất API IOC",
    "audit.view": "Xem nhật ký truy cập",
    "school.create": "Tạo trường", "school.list": "Xem danh sách trường", "school.view": "Xem thông tin trường",
    "class.list": "Xem danh sách lớp", "student.list": "Xem danh sách học sinh",
    "student.view": "Xem hồ sơ học sinh", "teacher.create": "Tạo giáo viên",
    "student.erasure_requested": "Yêu cầu xoá dữ liệu khuôn mặt học sinh",
    "masterdata.import_preview": "Xem trước dữ liệu nhập", "masterdata.import_apply": "Ghi dữ liệu nhập",
    "masterdata.import_rejected": "Từ chối tệp nhập",
    "attendance.overview": "Xem tổng quan chuyên cần", "attendance.school": "Xem chuyên cần trường",
    "attendance.class": "Xem chuyên cần lớp", "attendance.student": "Xem chuyên cần học sinh",
    "attendance.warnings": "Xem cảnh báo vắng học", "attendance.export": "Xuất báo cáo chuyên cần",
    "admissions.plan.save": "Lưu kế hoạch tuyển sinh", "admissions.application.create": "Nộp hồ sơ tuyển sinh",
    "admissions.application.update": "Sửa hồ sơ tuyển sinh",
    "admissions.application.review": "Thẩm định hồ sơ tuyển sinh",
    "admissions.candidate_numbers": "Đánh số báo danh", "admissions.scores.import": "Nhập điểm thi",
    "admissions.score.change": "Sửa điểm thi", "admissions.run": "Chạy xét tuyển",
    "admissions.publish": "Công bố kết quả tuyển sinh", "admissions.supplementary": "Xét tuyển bổ sung",
    "signature.create": "Tạo tài liệu ký số", "signature.edit": "Sửa tài liệu ký số",
    "signature.lock": "Khoá tài liệu", "signature.unlock": "Mở khoá tài liệu", "signature.sign": "Ký số",
    "signature.verify_record": "GVCN xác nhận hồ sơ", "signature.attendance_preview": "Xem trước bảng điểm danh",
    "signature.attendance_create": "Lập bảng điểm danh để ký", "signature.attendance_refresh":
        "Cập nhật bảng điểm danh",
    "library.item.create": "Tạo học liệu", "library.item.update": "Sửa học liệu",
    "library.item.delete": "Xoá học liệu", "library.file.upload": "Tải tệp học liệu",
    "library.item.submit": "Gửi thẩm định học liệu", "library.item.approve": "Thẩm định đạt học liệu",
    "library.item.return": "Trả lại học liệu", "library.item.publish": "Xuất bản học liệu",
    "library.item.withdraw": "Thu hồi học liệu",
}
MODULES = {"auth": "Tài khoản", "audit": "Nhật ký", "school": "Dữ liệu trường", "class": "Dữ liệu lớp",
           "student": "Dữ liệu học sinh", "teacher": "Dữ liệu giáo viên", "masterdata": "Dữ liệu ngành",
           "attendance": "Chuyên cần", "admissions": "Tuyển sinh", "signature": "Ký số", "library": "Thư viện số",
           "ingest": "Thu nhận dữ liệu", "ioc": "Trung tâm điều hành"}
OUTCOMES = {"ok": "Thành công", "denied": "Bị từ chối", "refused": "Không thực hiện"}


def action_label(code: str) -> str:
    """'Đăng nhập' for 'auth.login'; an action without a name yet shows its module's name and the code."""
    if code in ACTIONS:
        return ACTIONS[code]
    module = MODULES.get(code.split(".", 1)[0])
    return f"{module}: {code}" if module else code


def outcome_label(code: str) -> str:
    return OUTCOMES.get(code, code)
