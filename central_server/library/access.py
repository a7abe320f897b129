"""Who may see and change a library item: every scope decision of the library goes through here."""

from __future__ import annotations

from central_server.core.tables import User

from .tables import LibraryItem
from .workflow import PUBLISHER_ROLES, REVIEWER_ROLES, VISIBLE_TO_STUDENTS

PROVINCE = ("province_admin", "province_staff")


def can_edit(item: LibraryItem, user: User) -> bool:
    if user.role in PROVINCE:
        return True
    if user.role == "school_admin":
        return item.school_id is not None and item.school_id == user.school_id
    return item.created_by == user.id


def can_view(item: LibraryItem, user: User | None) -> bool:
    """Students (anonymous) and everyone see published items; unpublished ones only the staff concerned."""
    if item.status in VISIBLE_TO_STUDENTS:
        return True
    if user is None:
        return False
    return user.role in PROVINCE or can_edit(item, user)


def can_list_status(user: User | None, status: str) -> bool:
    """Search and MARC export by status: published records to anyone; records in any other state (drafts, under
    review, withdrawn) only to those who review or publish them (the province staff), never a teacher or school."""
    if status in VISIBLE_TO_STUDENTS:
        return True
    return user is not None and user.role in REVIEWER_ROLES | PUBLISHER_ROLES


def own_items_filter(user: User):
    """'My items': a school admin their school's, a teacher their own, the province every item (None)."""
    if user.role == "school_admin":
        return LibraryItem.school_id == user.school_id
    if user.role == "teacher":
        return LibraryItem.created_by == user.id
    return None
