"""Who may create, open and verify a signature document: every scope decision of the signature module goes
through here (roles per signing step: `service.SIGN_STEPS`).

* Create: a teacher or school admin, only in their own school (`school_id` of another school is refused).
  A record (`kind="record"`) names its class (`class_id`, a class of that school).
* Open / list / edit / sign: the province roles every document; a school admin the documents of their school;
  a teacher the documents they created and those of the classes they teach or lead (`masterdata.access`).
* Edit / lock a draft: its author or an admin; unlock (a new version): a school admin or the province admin.
* Verify a record: only the homeroom teacher of the record's class (`SchoolClass.homeroom_teacher_id`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from central_server.core.tables import User
from central_server.masterdata import access as md_access
from central_server.masterdata.tables import SchoolClass, Teacher

from .errors import WorkflowError
from .tables import SignatureDocument, SignatureVersion

PROVINCE = ("province_admin", "province_staff")
CREATORS = ("teacher", "school_admin")
ADMIN_ROLES = ("school_admin", "province_admin")  # edit any draft of their scope, unlock (a new version)


def document_class_id(content: dict) -> int | None:
    """The class a document belongs to: a record names it; an attendance table built from marks has a source."""
    value = content.get("class_id") or (content.get("source") or {}).get("class_id")
    return value if isinstance(value, int) else None


def creation_school(session: Session, user: User, kind: str, school_id: int | None,
                    class_id: int | None) -> int:
    """The school a new document belongs to; refuses another school's id, and a record without its class."""
    if user.role not in CREATORS:
        raise WorkflowError("Chỉ giáo viên hoặc quản trị trường tạo được tài liệu.", "forbidden")
    if school_id is not None and school_id != user.school_id:
        raise WorkflowError("Không được tạo tài liệu cho trường khác.", "forbidden")
    if kind == "record":
        klass = session.get(SchoolClass, class_id) if class_id else None
        if klass is None:
            raise WorkflowError("Hồ sơ (sổ điểm, học bạ) phải ghi lớp (class_id) để giáo viên chủ nhiệm kiểm tra.",
                                "bad_input")
        if klass.school_id != user.school_id:
            raise WorkflowError("Lớp này thuộc trường khác.", "forbidden")
    return user.school_id


def may_open(session: Session, user: User, doc: SignatureDocument, content: dict,
             classes: set[int] | None = None) -> bool:
    """`classes`: the teacher's classes when already known (a list page asks once)."""
    if user.role in PROVINCE:
        return True
    if doc.school_id is None or user.school_id != doc.school_id:
        return False
    if user.role == "school_admin" or doc.created_by == user.id:
        return True
    if user.role != "teacher":
        return False
    class_id = document_class_id(content)
    if class_id is None:
        return False
    return class_id in (classes if classes is not None else md_access.visible_class_ids(session, user) or set())


def teacher_classes(session: Session, user: User) -> set[int] | None:
    return (md_access.visible_class_ids(session, user) or set()) if user.role == "teacher" else None


def check_scope(session: Session, user: User, doc: SignatureDocument, content: dict) -> None:
    if not may_open(session, user, doc, content):
        raise WorkflowError("Bạn không có quyền mở tài liệu này (tài liệu của trường hoặc lớp khác).", "forbidden")


def check_homeroom(session: Session, user: User, content: dict) -> None:
    """Only the homeroom teacher of the record's class verifies it."""
    klass = session.get(SchoolClass, document_class_id(content) or 0)
    teacher = session.get(Teacher, klass.homeroom_teacher_id) if klass and klass.homeroom_teacher_id else None
    if user.role != "teacher" or teacher is None or teacher.user_id != user.id:
        raise WorkflowError("Việc kiểm tra do giáo viên chủ nhiệm của lớp thực hiện.", "forbidden")


def check_editor(user: User, doc: SignatureDocument, ver: SignatureVersion, verb: str) -> None:
    """Edit or lock a draft: the person who entered it, or an admin (school admin of the school, province admin)."""
    if user.id not in (ver.created_by, doc.created_by) and user.role not in ADMIN_ROLES:
        raise WorkflowError(f"Chỉ người nhập hoặc quản trị được {verb}.", "forbidden")


def check_unlocker(user: User) -> None:
    if user.role not in ADMIN_ROLES:
        raise WorkflowError("Chỉ quản trị trường hoặc Sở được mở khoá.", "forbidden")
