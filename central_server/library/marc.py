"""MARC 21 import and export of library titles (MARCXML and ISO 2709) with pymarc, for Koha-style systems.

Import is all or nothing: every record is parsed and checked first, and one malformed record rejects the
whole file with a message naming it. An imported record is kept (as MARCXML) so that fields this module does
not map (holdings 952, local 9XX...) survive a round trip.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from xml.sax import SAXException

import pymarc
from pymarc import Field, Indicators, MARCReader, Record, Subfield

from .subject_map import subject_of
from .tables import LibraryItem
from .vocab import LANGUAGES, MARC_TO_LANGUAGE

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_RECORDS = 100_000
MANAGED_TAGS = ("001", "008", "020", "024", "041", "082", "100", "245", "250", "264", "260", "300", "520",
                "540", "650", "653", "700", "856")
_TRAILING_ISBD = re.compile(r"[\s/:;,=]+$")
_YEAR = re.compile(r"\d{4}")
NATIONAL_SOURCE = "hoclieu-quocgia"


class MarcError(ValueError):
    """A malformed file or record; the message (Vietnamese) names the record."""


@dataclass
class ParsedTitle:
    fields: dict = field(default_factory=dict)
    marc_xml: str = ""


def _clean(value: str | None, dot: bool = False) -> str:
    text = _TRAILING_ISBD.sub("", (value or "").strip())
    if dot and text.endswith(".") and not text.endswith(".."):
        text = _TRAILING_ISBD.sub("", text[:-1])
    return unicodedata.normalize("NFC", text)


def _sub(record: Record, tag: str, code: str, dot: bool = False) -> str:
    for f in record.get_fields(tag):
        values = f.get_subfields(code)
        if values:
            return _clean(values[0], dot)
    return ""


def _names(record: Record, tags: tuple[str, ...], authors: bool | None) -> list[str]:
    """$a of the name fields; authors=True keeps only 700s with relator aut, False the others, None all."""
    out = []
    for f in record.get_fields(*tags):
        is_author = f.tag == "100" or "aut" in f.get_subfields("4")
        if f.get_subfields("a") and (authors is None or authors == is_author):
            out.append(_clean(f.get_subfields("a")[0], dot=True))
    return out


def record_to_fields(record: Record) -> dict:
    """The item fields of one MARC record (raises MarcError when it has no title)."""
    title = " : ".join(v for v in (_sub(record, "245", "a", True), _sub(record, "245", "b", True)) if v)
    if not title:
        raise MarcError("thiếu trường 245 $a (nhan đề)")
    lang_code = _sub(record, "041", "a") or (record["008"].data[35:38] if record["008"] else "")
    date = _sub(record, "264", "c") or _sub(record, "260", "c")
    year = _YEAR.search(date)
    national = next((f.get_subfields("a")[0] for f in record.get_fields("024")
                     if f.get_subfields("2") == [NATIONAL_SOURCE] and f.get_subfields("a")), "")
    copies = len(record.get_fields("952")) or None
    keywords = [_clean(v) for f in record.get_fields("650", "653") for v in f.get_subfields("a")][:50]
    ddc = _sub(record, "082", "a")[:32]
    return dict(
        kind="title", material_type="sach", title=title[:500],
        creators=_names(record, ("100", "700"), True)[:50],
        contributors=_names(record, ("700",), False)[:50],
        keywords=keywords,
        subject_code=subject_of(keywords, ddc),
        description=_sub(record, "520", "a"),
        publisher=(_sub(record, "264", "b") or _sub(record, "260", "b"))[:300],
        date_issued=year.group() if year else "",
        language=MARC_TO_LANGUAGE.get(lang_code.strip().lower(), "vi"),
        isbn=_sub(record, "020", "a").split(" ")[0][:32],
        ddc=ddc,
        edition=_sub(record, "250", "a")[:100],
        extent=_sub(record, "300", "a")[:200],
        call_number=_sub(record, "090", "a")[:64],
        rights=_sub(record, "540", "a"),
        relation=_sub(record, "856", "u")[:500],
        national_id=national[:100],
        copies=copies,
    )


def parse(data: bytes) -> list[ParsedTitle]:
    """Parse a MARCXML or ISO 2709 file into checked titles, or raise MarcError."""
    if not data.strip():
        raise MarcError("Tệp MARC rỗng")
    if len(data) > MAX_IMPORT_BYTES:
        raise MarcError(f"Tệp MARC quá lớn (tối đa {MAX_IMPORT_BYTES:,} byte)")
    records = _read_xml(data) if data.lstrip()[:1] == b"<" else _read_iso2709(data)
    if not records:
        raise MarcError("Tệp không chứa bản ghi MARC nào")
    if len(records) > MAX_RECORDS:
        raise MarcError(f"Quá nhiều bản ghi ({len(records):,}); tối đa {MAX_RECORDS:,} mỗi lần nhập")
    out = []
    for n, record in enumerate(records, 1):
        try:
            fields = record_to_fields(record)
        except MarcError as exc:
            raise MarcError(f"Bản ghi số {n}: {exc}") from exc
        except (AttributeError, IndexError, KeyError, ValueError, TypeError) as exc:
            raise MarcError(f"Bản ghi số {n}: cấu trúc không hợp lệ ({exc})") from exc
        out.append(ParsedTitle(fields, pymarc.record_to_xml(record, namespace=True).decode("utf-8")))
    return out


def _read_xml(data: bytes) -> list[Record]:
    try:
        return pymarc.parse_xml_to_array(io.BytesIO(data), strict=True, normalize_form="NFC")
    except (SAXException, ValueError, KeyError, IndexError, TypeError) as exc:
        raise MarcError(f"Tệp MARCXML không hợp lệ: {exc}") from exc


def _read_iso2709(data: bytes) -> list[Record]:
    if not data[:5].isdigit():
        raise MarcError("Không nhận ra định dạng: tệp không phải MARCXML hay ISO 2709 (5 byte đầu phải là độ dài)")
    reader = MARCReader(data, to_unicode=True, force_utf8=False, utf8_handling="strict")
    records = []
    for n, record in enumerate(reader, 1):
        if record is None:
            exc = reader.current_exception
            raise MarcError(f"Bản ghi số {n} bị hỏng: {type(exc).__name__}: {exc}")
        records.append(record)
    return records


def item_to_record(item: LibraryItem) -> Record:
    """A MARC 21 bibliographic record (UTF-8) of an item; an imported record keeps its unmapped fields, and
    the parts of mapped ones the item does not hold: 650 headings (with their indicators and source) stay 650
    while the keyword is kept, the place of publication (264/260 $a) and the other 300 subfields ($b, $c)."""
    original = _original(item)
    record = _base_record(item)
    lang = LANGUAGES.get(item.language, ("", "vie"))[1]
    year = (item.date_issued or "")[:4]
    record.add_ordered_field(Field("001", data=f"LIB{item.id}"))
    date1 = year if len(year) == 4 else "    "
    record.add_ordered_field(Field("008", data=f"{item.created_at:%y%m%d}s{date1}    vm            000 0 {lang} d"))
    if item.isbn:
        record.add_ordered_field(_df("020", [("a", item.isbn)]))
    if item.national_id:
        record.add_ordered_field(_df("024", [("a", item.national_id), ("2", NATIONAL_SOURCE)], "7", " "))
    record.add_ordered_field(_df("041", [("a", lang)], "0", " "))
    if item.ddc:
        record.add_ordered_field(_df("082", [("a", item.ddc), ("2", "23")], "0", "4"))
    creators = list(item.creators or [])
    if creators:
        record.add_ordered_field(_df("100", [("a", creators[0])], "1", " "))
    main, _, rest = item.title.partition(" : ")
    title_subs = [("a", f"{main} :"), ("b", rest)] if rest else [("a", item.title)]
    if creators:
        title_subs.append(("c", ", ".join(creators)))
    record.add_ordered_field(_df("245", title_subs, "1" if creators else "0", "0"))
    if item.edition:
        record.add_ordered_field(_df("250", [("a", item.edition)]))
    place = (_sub(original, "264", "a") or _sub(original, "260", "a")) if original else ""
    pub = [(c, v) for c, v in (("a", place), ("b", item.publisher or item.school_name), ("c", item.date_issued))
           if v]
    if pub:
        record.add_ordered_field(_df("264", pub, " ", "1"))
    physical = [(sf.code, sf.value) for f in (original.get_fields("300") if original else [])[:1]
                for sf in f.subfields if sf.code != "a"]
    if item.extent or physical:
        record.add_ordered_field(_df("300", [("a", item.extent)] * bool(item.extent) + physical))
    if item.description:
        record.add_ordered_field(_df("520", [("a", item.description)]))
    if item.rights:
        record.add_ordered_field(_df("540", [("a", item.rights)]))
    headings = {_clean(f.get_subfields("a")[0]): f for f in (original.get_fields("650") if original else [])
                if f.get_subfields("a")}
    for kw in item.keywords or []:
        heading = headings.pop(kw, None)
        record.add_ordered_field(heading if heading is not None else _df("653", [("a", kw)]))
    for name in creators[1:]:
        record.add_ordered_field(_df("700", [("a", name), ("e", "tác giả"), ("4", "aut")], "1", " "))
    for name in item.contributors or []:
        record.add_ordered_field(_df("700", [("a", name)], "1", " "))
    for url in (item.relation, item.national_url):
        if url.startswith(("http://", "https://")):
            record.add_ordered_field(_df("856", [("u", url)], "4", "0"))
    return record


def _original(item: LibraryItem) -> Record | None:
    """The record an imported item came from, or None."""
    if not item.marc_xml:
        return None
    parsed = pymarc.parse_xml_to_array(io.BytesIO(item.marc_xml.encode("utf-8")))
    return parsed[0] if parsed else None


def _base_record(item: LibraryItem) -> Record:
    record = _original(item)  # a copy of its own: the mapped fields are removed from it
    if record is None:
        record = Record(force_utf8=True)
    record.remove_fields(*MANAGED_TAGS)
    record.leader = str(record.leader)[:5] + "nam a22" + str(record.leader)[12:17] + " i 4500"
    record.force_utf8 = True
    return record


def _df(tag: str, subs: list[tuple[str, str]], ind1: str = " ", ind2: str = " ") -> Field:
    return Field(tag=tag, indicators=Indicators(ind1, ind2), subfields=[Subfield(c, v) for c, v in subs])


def export_xml(items: list[LibraryItem]) -> bytes:
    """A MARCXML collection."""
    buf = io.BytesIO()
    writer = pymarc.XMLWriter(buf)
    for item in items:
        writer.write(item_to_record(item))
    writer.close(close_fh=False)
    return buf.getvalue()


def export_iso2709(items: list[LibraryItem]) -> bytes:
    return b"".join(item_to_record(item).as_marc() for item in items)
