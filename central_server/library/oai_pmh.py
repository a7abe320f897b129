"""OAI-PMH 2.0 data provider: the six verbs, oai_dc and marc21 formats, sets by subject and school,
from/until selective harvesting, keyset resumption tokens, persistent deleted records (withdrawn items).

`respond(session, args, cfg)` takes the request's arguments as (name, value) pairs (so repeated arguments
are seen) and returns the XML response; every protocol error is the protocol's own error code.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from . import marc, oai_tokens, schools
from .dublin_core import dc_elements
from .tables import LibraryFile, LibraryItem
from .vocab import SUBJECTS
from .workflow import IN_HARVEST

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MARC_NS = "http://www.loc.gov/MARC21/slim"
FORMATS = {
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC_NS),
    "marc21": ("http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd", MARC_NS),
}
VERBS = {
    # verb: (required, optional, exclusive)
    "Identify": (set(), set(), None),
    "ListMetadataFormats": (set(), {"identifier"}, None),
    "ListSets": (set(), set(), "resumptionToken"),
    "GetRecord": ({"identifier", "metadataPrefix"}, set(), None),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set"}, "resumptionToken"),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set"}, "resumptionToken"),
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
EARLIEST_FALLBACK = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


@dataclass
class OaiConfig:
    endpoint: str
    site_url: str
    repository_name: str
    repository_id: str
    admin_email: str
    page_size: int
    secret: str


class OaiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identifier(cfg: OaiConfig, item_id: int) -> str:
    return f"oai:{cfg.repository_id}:library/{item_id}"


def _item_id(cfg: OaiConfig, oai_id: str) -> int | None:
    prefix = f"oai:{cfg.repository_id}:library/"
    tail = oai_id[len(prefix):] if oai_id.startswith(prefix) else ""
    return int(tail) if tail.isdigit() and len(tail) < 12 else None


def respond(session: Session, args: list[tuple[str, str]], cfg: OaiConfig, now: dt.datetime | None = None) -> bytes:
    now = now or dt.datetime.now(dt.UTC)
    root = etree.Element(f"{{{OAI_NS}}}OAI-PMH", nsmap={None: OAI_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd")
    etree.SubElement(root, f"{{{OAI_NS}}}responseDate").text = stamp(now)
    request = etree.SubElement(root, f"{{{OAI_NS}}}request")
    request.text = cfg.endpoint
    try:
        verb, params = _check_args(args)
        for k, v in [("verb", verb), *sorted(params.items())]:
            request.set(k, v)  # echoed only when the arguments are valid (spec 3.2)
        body = _HANDLERS[verb](session, params, cfg)
        root.append(body)
    except OaiError as err:
        if err.code in ("badVerb", "badArgument"):
            request.attrib.clear()
        el = etree.SubElement(root, f"{{{OAI_NS}}}error", code=err.code)
        el.text = err.message
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _check_args(args: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    names = [k for k, _ in args]
    if names.count("verb") != 1:
        raise OaiError("badVerb", "Thiếu tham số verb hoặc verb bị lặp lại")
    verb = dict(args)["verb"]
    if verb not in VERBS:
        raise OaiError("badVerb", f"verb không hợp lệ: {verb!r}")
    repeated = sorted({k for k in names if names.count(k) > 1})
    if repeated:
        raise OaiError("badArgument", f"Tham số bị lặp lại: {', '.join(repeated)}")
    params = {k: v for k, v in args if k != "verb"}
    required, optional, exclusive = VERBS[verb]
    allowed = required | optional | ({exclusive} if exclusive else set())
    illegal = sorted(set(params) - allowed)
    if illegal:
        raise OaiError("badArgument", f"Tham số không hợp lệ cho {verb}: {', '.join(illegal)}")
    if exclusive and exclusive in params:
        if len(params) > 1:
            raise OaiError("badArgument", f"{exclusive} phải là tham số duy nhất (ngoài verb)")
        return verb, params
    missing = sorted(required - set(params))
    if missing:
        raise OaiError("badArgument", f"Thiếu tham số bắt buộc: {', '.join(missing)}")
    return verb, params


def _parse_date(value: str, end: bool) -> tuple[dt.datetime, str]:
    try:
        if _DAY.match(value):
            day = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
            return (day + dt.timedelta(days=1, microseconds=-1) if end else day), "day"
        if _SECOND.match(value):
            moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            return (moment + dt.timedelta(microseconds=999_999) if end else moment), "second"
    except ValueError:
        pass
    raise OaiError("badArgument", f"Ngày không hợp lệ: {value!r} (YYYY-MM-DD hoặc YYYY-MM-DDThh:mm:ssZ)")


def _identify(session: Session, params: dict, cfg: OaiConfig):
    el = etree.Element(f"{{{OAI_NS}}}Identify")
    earliest = session.scalar(select(func.min(LibraryItem.updated_at)).where(LibraryItem.status.in_(IN_HARVEST)))
    for tag, text in (("repositoryName", cfg.repository_name), ("baseURL", cfg.endpoint),
                      ("protocolVersion", "2.0"), ("adminEmail", cfg.admin_email),
                      ("earliestDatestamp", stamp(earliest or EARLIEST_FALLBACK)),
                      ("deletedRecord", "persistent"), ("granularity", "YYYY-MM-DDThh:mm:ssZ")):
        etree.SubElement(el, f"{{{OAI_NS}}}{tag}").text = text
    return el


def _find(session: Session, cfg: OaiConfig, oai_id: str) -> LibraryItem:
    item_id = _item_id(cfg, oai_id)
    item = session.get(LibraryItem, item_id) if item_id is not None else None
    if item is None or item.status not in IN_HARVEST:
        raise OaiError("idDoesNotExist", f"Không có bản ghi {oai_id!r}")
    return item


def _list_formats(session: Session, params: dict, cfg: OaiConfig):
    if "identifier" in params:
        _find(session, cfg, params["identifier"])
    el = etree.Element(f"{{{OAI_NS}}}ListMetadataFormats")
    for prefix, (schema, ns) in FORMATS.items():
        fmt = etree.SubElement(el, f"{{{OAI_NS}}}metadataFormat")
        for tag, text in (("metadataPrefix", prefix), ("schema", schema), ("metadataNamespace", ns)):
            etree.SubElement(fmt, f"{{{OAI_NS}}}{tag}").text = text
    return el


def _list_sets(session: Session, params: dict, cfg: OaiConfig):
    if "resumptionToken" in params:
        raise OaiError("badResumptionToken", "ListSets trả về trọn một lần, không dùng resumptionToken")
    el = etree.Element(f"{{{OAI_NS}}}ListSets")
    sets = [("subject", "Môn học"), *((f"subject:{c}", f"Môn {n}") for c, n in SUBJECTS.items()), ("school", "Trường")]
    rows = session.execute(
        select(LibraryItem.school_id, func.max(LibraryItem.school_name))
        .where(LibraryItem.status.in_(IN_HARVEST), LibraryItem.school_id.is_not(None))
        .group_by(LibraryItem.school_id).order_by(LibraryItem.school_id)
    ).all()
    sets += [(f"school:{schools.set_value(session, sid)}", name or f"Trường #{sid}") for sid, name in rows]
    for spec, name in sets:
        s = etree.SubElement(el, f"{{{OAI_NS}}}set")
        etree.SubElement(s, f"{{{OAI_NS}}}setSpec").text = spec
        etree.SubElement(s, f"{{{OAI_NS}}}setName").text = name
    return el


def _set_specs(session: Session, item: LibraryItem) -> list[str]:
    specs = [f"subject:{item.subject_code}"]
    if item.school_id is not None:
        specs.append(f"school:{schools.set_value(session, item.school_id)}")
    return specs


def _set_filter(session: Session, spec: str | None):
    if not spec or spec == "subject":
        return None
    if spec == "school":
        return LibraryItem.school_id.is_not(None)
    kind, _, value = spec.partition(":")
    if kind == "subject" and value:
        return LibraryItem.subject_code == value
    ids = schools.ids_for(session, value) if kind == "school" and value else []
    if ids:
        return LibraryItem.school_id.in_(ids)
    return False  # an unknown set matches nothing (noRecordsMatch)


def _header(session: Session, item: LibraryItem, cfg: OaiConfig):
    h = etree.Element(f"{{{OAI_NS}}}header")
    if item.status == "withdrawn":
        h.set("status", "deleted")
    etree.SubElement(h, f"{{{OAI_NS}}}identifier").text = identifier(cfg, item.id)
    etree.SubElement(h, f"{{{OAI_NS}}}datestamp").text = stamp(item.updated_at)
    for spec in _set_specs(session, item):
        etree.SubElement(h, f"{{{OAI_NS}}}setSpec").text = spec
    return h


def _metadata(item: LibraryItem, file: LibraryFile | None, prefix: str, cfg: OaiConfig):
    md = etree.Element(f"{{{OAI_NS}}}metadata")
    if prefix == "marc21":
        md.append(etree.fromstring(ET.tostring(marc.pymarc.record_to_xml_node(marc.item_to_record(item),
                                                                              namespace=True))))
        return md
    dc = etree.SubElement(md, f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI})
    dc.set(f"{{{XSI}}}schemaLocation", f"{OAI_DC_NS} {FORMATS['oai_dc'][0]}")
    for element, value in dc_elements(item, file, cfg.site_url):
        etree.SubElement(dc, f"{{{DC_NS}}}{element}").text = value
    return md


def _record(session: Session, item: LibraryItem, file: LibraryFile | None, prefix: str, cfg: OaiConfig):
    rec = etree.Element(f"{{{OAI_NS}}}record")
    rec.append(_header(session, item, cfg))
    if item.status != "withdrawn":
        rec.append(_metadata(item, file, prefix, cfg))
    return rec


def _check_prefix(prefix: str) -> str:
    if prefix not in FORMATS:
        raise OaiError("cannotDisseminateFormat", f"Không hỗ trợ metadataPrefix {prefix!r} (có: {', '.join(FORMATS)})")
    return prefix


def _get_record(session: Session, params: dict, cfg: OaiConfig):
    prefix = _check_prefix(params["metadataPrefix"])
    item = _find(session, cfg, params["identifier"])
    file = session.get(LibraryFile, item.file_sha256) if item.file_sha256 else None
    el = etree.Element(f"{{{OAI_NS}}}GetRecord")
    el.append(_record(session, item, file, prefix, cfg))
    return el


def _list(session: Session, params: dict, cfg: OaiConfig, verb: str):
    if "resumptionToken" in params:
        try:
            c = oai_tokens.decode(params["resumptionToken"], cfg.secret, verb)
        except oai_tokens.BadToken as exc:
            raise OaiError("badResumptionToken", str(exc)) from exc
        start = dt.datetime.fromisoformat(c.from_) if c.from_ else None
        end = dt.datetime.fromisoformat(c.until) if c.until else None
        prefix, spec, after, cursor, total = c.prefix, c.set_spec, (c.last_datetime(), c.last_id), c.cursor, c.total
    else:
        prefix, spec = _check_prefix(params["metadataPrefix"]), params.get("set")
        start, g1 = _parse_date(params["from"], False) if "from" in params else (None, None)
        end, g2 = _parse_date(params["until"], True) if "until" in params else (None, None)
        if g1 and g2 and g1 != g2:
            raise OaiError("badArgument", "from và until phải cùng độ chi tiết (ngày hoặc giây)")
        if start and end and start > end:
            raise OaiError("badArgument", "from phải trước until")
        after, cursor, total = None, 0, -1
    conds = [LibraryItem.status.in_(IN_HARVEST)]
    set_cond = _set_filter(session, spec)
    if set_cond is False:
        raise OaiError("noRecordsMatch", f"Không có tập {spec!r}")
    if set_cond is not None:
        conds.append(set_cond)
    if start is not None:
        conds.append(LibraryItem.updated_at >= start)
    if end is not None:
        conds.append(LibraryItem.updated_at <= end)
    if total < 0:
        total = session.scalar(select(func.count()).select_from(LibraryItem).where(and_(*conds))) or 0
    if after is not None:
        conds += [LibraryItem.updated_at >= after[0], or_(LibraryItem.updated_at > after[0], LibraryItem.id > after[1])]
    rows = session.scalars(select(LibraryItem).where(and_(*conds))
                           .order_by(LibraryItem.updated_at, LibraryItem.id).limit(cfg.page_size + 1)).all()
    if not rows:
        if after is not None:
            raise OaiError("badResumptionToken", "resumptionToken đã hết hạn (không còn bản ghi)")
        raise OaiError("noRecordsMatch", "Không có bản ghi nào khớp điều kiện")
    more, page = len(rows) > cfg.page_size, rows[: cfg.page_size]
    el = etree.Element(f"{{{OAI_NS}}}{verb}")
    if verb == "ListIdentifiers":
        for item in page:
            el.append(_header(session, item, cfg))
    else:
        shas = {i.file_sha256 for i in page if i.file_sha256}
        files = {f.sha256: f for f in session.scalars(select(LibraryFile).where(LibraryFile.sha256.in_(shas)))}
        for item in page:
            el.append(_record(session, item, files.get(item.file_sha256), prefix, cfg))
    if more or cursor:
        token = etree.SubElement(el, f"{{{OAI_NS}}}resumptionToken", completeListSize=str(total), cursor=str(cursor))
        if more:
            last = page[-1]
            token.text = oai_tokens.encode(oai_tokens.Cursor(
                verb, prefix, spec, start.isoformat() if start else None, end.isoformat() if end else None,
                last.updated_at.astimezone(dt.UTC).isoformat(), last.id, cursor + len(page), total), cfg.secret)
    return el


_HANDLERS = {
    "Identify": _identify,
    "ListMetadataFormats": _list_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": lambda s, p, c: _list(s, p, c, "ListIdentifiers"),
    "ListRecords": lambda s, p, c: _list(s, p, c, "ListRecords"),
}
