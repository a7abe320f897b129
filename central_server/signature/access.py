"""Who may open a signature document: every scope decision of the signature module goes through here
(roles per signing step: `service.SIGN_STEPS`)."""

from __future__ import annotations

from central_server.core.tables import User

from .errors import WorkflowError
from .tables import SignatureDocument


def check_scope(user: User, doc: SignatureDocument) -> None:
    """Province roles see every document; anyone else only the documents of their own school."""
    if user.role in ("province_admin", "province_staff"):
        return
    if doc.school_id is None or user.school_id != doc.school_id:
        raise WorkflowError("Tài liệu này thuộc trường khác.", "forbidden")
