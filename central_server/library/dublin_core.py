"""Dublin Core (the 15 elements) of an item, shared by the OAI-PMH oai_dc records and the item page."""

from __future__ import annotations

from .tables import LibraryFile, LibraryItem
from .vocab import LANGUAGES, LICENCES, MATERIAL_TYPES, SUBJECTS

DC_ELEMENTS = ("title", "creator", "subject", "description", "publisher", "contributor", "date", "type",
               "format", "identifier", "source", "language", "relation", "coverage", "rights")

DC_LABELS = {
    "title": "Nhan đề", "creator": "Tác giả", "subject": "Chủ đề", "description": "Mô tả",
    "publisher": "Nhà xuất bản / đơn vị", "contributor": "Người đóng góp", "date": "Ngày phát hành",
    "type": "Kiểu tài nguyên", "format": "Định dạng", "identifier": "Định danh", "source": "Nguồn",
    "language": "Ngôn ngữ", "relation": "Liên kết", "coverage": "Phạm vi", "rights": "Bản quyền",
}


def item_url(base_url: str, item_id: int) -> str:
    return f"{base_url.rstrip('/')}/library/items/{item_id}"


def dc_elements(item: LibraryItem, file: LibraryFile | None, base_url: str) -> list[tuple[str, str]]:
    """(element, value) pairs in DC element order; multi-valued elements repeat."""
    out: list[tuple[str, str]] = [("title", item.title)]
    out += [("creator", c) for c in item.creators or []]
    subjects = [SUBJECTS.get(item.subject_code, item.subject_code)]
    if item.grade:
        subjects.append(f"Lớp {item.grade}")
    if item.topic:
        subjects.append(item.topic)
    if item.ddc:
        subjects.append(f"DDC {item.ddc}")
    out += [("subject", s) for s in subjects + list(item.keywords or [])]
    if item.description:
        out.append(("description", item.description))
    out.append(("publisher", item.publisher or item.school_name))
    out += [("contributor", c) for c in item.contributors or []]
    if item.date_issued:
        out.append(("date", item.date_issued))
    elif item.published_at:
        out.append(("date", item.published_at.strftime("%Y-%m-%d")))
    label, dcmi = MATERIAL_TYPES.get(item.material_type, (item.material_type, "Text"))
    out += [("type", dcmi), ("type", label)]
    if file is not None:
        out.append(("format", file.mime))
    if item.extent:
        out.append(("format", item.extent))
    out.append(("identifier", item_url(base_url, item.id)))
    if item.isbn:
        out.append(("identifier", f"ISBN {item.isbn}"))
    if item.national_id:
        out.append(("identifier", item.national_id))
    if item.source:
        out.append(("source", item.source))
    out.append(("language", item.language if item.language in LANGUAGES else "vi"))
    if item.relation:
        out.append(("relation", item.relation))
    if item.national_url:
        out.append(("relation", item.national_url))
    if item.coverage:
        out.append(("coverage", item.coverage))
    out.append(("rights", LICENCES.get(item.licence, item.licence)))
    if item.rights:
        out.append(("rights", item.rights))
    return [(k, v) for k, v in out if v]
