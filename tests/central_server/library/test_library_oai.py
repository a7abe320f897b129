"""OAI-PMH 2.0 provider: harvested over real HTTP by the `sickle` client, and every response checked against
the protocol's rules (namespaces, request echo, datestamp granularity, resumption tokens, error codes)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from lxml import etree
from sickle import Sickle

from central_server.core.db import utcnow
from central_server.library import service
from central_server.library.dublin_core import DC_ELEMENTS
from central_server.library.tables import LibraryItem

NS = {"o": "http://www.openarchives.org/OAI/2.0/", "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
      "dc": "http://purl.org/dc/elements/1.1/", "m": "http://www.loc.gov/MARC21/slim"}
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
BASE = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture()
def harvest_corpus(db, people, new_item):
    """35 published (subjects toan/lich-su, schools 1/2, several sharing a datestamp), 3 withdrawn, 4 drafts."""
    t1, t2, rv = people["teacher"], people["teacher2"], people["reviewer"]
    published, withdrawn = [], []
    for i in range(38):
        author = t1 if i % 2 else t2
        item = service.create_item(db, new_item(title=f"Học liệu số {i:02d}", subject_code="toan" if i % 3 else
                                                "lich-su"), author)
        item.kind = "title"
        for action, who, comment in (("submit", author, ""), ("approve", rv, "Đạt"), ("publish", rv, "")):
            service.apply_action(db, item, action, comment, who)
        if i >= 35:
            service.apply_action(db, item, "withdraw", "Vi phạm bản quyền", rv)
            withdrawn.append(item)
        else:
            published.append(item)
        item.updated_at = BASE + dt.timedelta(hours=i // 3)  # groups of 3 share a datestamp: keyset ties
    for i in range(4):
        service.create_item(db, new_item(title=f"Bản nháp {i}"), t1)
    db.commit()
    return {"published": published, "withdrawn": withdrawn}


def check_response(xml: bytes, verb: str | None, error: str | None = None) -> etree._Element:
    """The rules every OAI-PMH response obeys (spec sections 3.2, 3.3, 3.5, 3.6)."""
    root = etree.fromstring(xml)
    assert root.tag == "{http://www.openarchives.org/OAI/2.0/}OAI-PMH"
    assert [etree.QName(c).localname for c in root][:2] == ["responseDate", "request"]
    assert STAMP.match(root.findtext("o:responseDate", namespaces=NS))
    request = root.find("o:request", NS)
    assert request.text.endswith("/library/oai")
    errors = root.findall("o:error", NS)
    if error:
        assert [e.get("code") for e in errors] == [error], xml.decode()
        assert errors[0].text  # a human-readable message
        if error in ("badVerb", "badArgument"):
            assert dict(request.attrib) == {}  # no echo of invalid arguments
        return root
    assert errors == [], xml.decode()
    assert request.get("verb") == verb
    body = root.find(f"o:{verb}", NS)
    assert body is not None
    for header in root.iter("{{{}}}header".format(NS["o"])):
        parts = [etree.QName(c).localname for c in header]
        assert parts[:2] == ["identifier", "datestamp"] and set(parts[2:]) <= {"setSpec"}
        assert STAMP.match(header.findtext("o:datestamp", namespaces=NS))
        assert header.get("status") in (None, "deleted")
    for dc in root.iter("{{{}}}dc".format(NS["oai_dc"])):
        assert {etree.QName(c).namespace for c in dc} == {NS["dc"]}
        assert {etree.QName(c).localname for c in dc} <= set(DC_ELEMENTS)
    return root


def test_sickle_harvests_everything_with_resumption_tokens(live_url, harvest_corpus):
    sickle = Sickle(f"{live_url}/library/oai", max_retries=1, timeout=10)
    identify = sickle.Identify()
    assert identify.protocolVersion == "2.0" and identify.deletedRecord == "persistent"
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    records = list(sickle.ListRecords(metadataPrefix="oai_dc"))
    ids = [r.header.identifier for r in records]
    assert len(ids) == len(set(ids)) == 38  # 35 published + 3 tombstones, drafts never; 4 pages of 10
    deleted = {r.header.identifier for r in records if r.header.deleted}
    assert deleted == {f"oai:hoclieu.soctrang.edu.vn:library/{i.id}" for i in harvest_corpus["withdrawn"]}
    live = [r for r in records if not r.header.deleted]
    assert all(r.metadata["title"][0].startswith("Học liệu số") for r in live)
    assert all(r.metadata["rights"] == ["CC BY 4.0"] for r in live)
    stamps = [r.header.datestamp for r in records]
    assert stamps == sorted(stamps)
    formats = [f.metadataPrefix for f in sickle.ListMetadataFormats()]
    assert formats == ["oai_dc", "marc21"]
    sets = {s.setSpec for s in sickle.ListSets()}
    assert {"subject", "subject:toan", "school", "school:1", "school:2"} <= sets
    headers = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", set="subject:lich-su"))
    expected = [i for i in harvest_corpus["published"] + harvest_corpus["withdrawn"] if i.subject_code == "lich-su"]
    assert len(headers) == len(expected) == 13
    record = sickle.GetRecord(identifier=ids[0], metadataPrefix="oai_dc")
    assert record.header.identifier == ids[0]


def test_selective_harvest_from_until_and_sets(client, harvest_corpus):
    def count(**params) -> int:
        n, token = 0, None
        while True:
            args = {"verb": "ListIdentifiers", **({"resumptionToken": token} if token else params)}
            root = check_response(client.get("/library/oai", params=args).content, "ListIdentifiers")
            n += len(root.findall(".//o:header", NS))
            token = root.findtext(".//o:resumptionToken", namespaces=NS)
            if not token:
                return n

    # items i were stamped BASE + (i // 3) hours: hours 0..3 hold items 0..11
    assert count(metadataPrefix="oai_dc", until="2025-03-01T11:00:00Z") == 12
    assert count(metadataPrefix="oai_dc", **{"from": "2025-03-01T11:00:00Z"}) == 38 - 9
    assert count(metadataPrefix="oai_dc", **{"from": "2025-03-01", "until": "2025-03-01"}) == 38
    assert count(metadataPrefix="oai_dc", set="school:1") == 19
    assert count(metadataPrefix="oai_dc", set="subject:toan", until="2025-03-01T08:00:00Z") == 2


def test_paging_rules_and_keyset_stability(client, harvest_corpus, db):
    root = check_response(client.get("/library/oai", params={"verb": "ListRecords", "metadataPrefix": "oai_dc"})
                          .content, "ListRecords")
    token = root.find(".//o:resumptionToken", NS)
    assert token.get("completeListSize") == "38" and token.get("cursor") == "0" and token.text
    # a record changed during the harvest moves to the end; the keyset token neither skips nor repeats others
    first_ids = [h.text for h in root.findall(".//o:header/o:identifier", NS)]
    changed = harvest_corpus["published"][15]
    changed.updated_at = utcnow()
    db.commit()
    seen, cursor_values = list(first_ids), []
    while token is not None and token.text:
        root = check_response(client.get("/library/oai", params={"verb": "ListRecords", "resumptionToken":
                                                                 token.text}).content, "ListRecords")
        seen += [h.text for h in root.findall(".//o:header/o:identifier", NS)]
        token = root.find(".//o:resumptionToken", NS)
        cursor_values.append(token.get("cursor"))
    assert cursor_values == ["10", "20", "30"] and token.text is None  # last page: empty token element
    assert len(seen) == len(set(seen)) == 38


ERROR_CASES = [
    ({}, "badVerb"),
    ({"verb": "Harvest"}, "badVerb"),
    ({"verb": ["Identify", "Identify"]}, "badVerb"),
    ({"verb": "Identify", "extra": "1"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ["oai_dc", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "01/03/2025"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-13-45"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-03-01", "until": "2025-03-02T00:00:00Z"},
     "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-03-02", "until": "2025-03-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "garbage"}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": "eyJ2IjoxfQ.0123456789abcdef01234567"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "mods"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": "oai:hoclieu.soctrang.edu.vn:library/999999", "metadataPrefix": "oai_dc"},
     "idDoesNotExist"),
    ({"verb": "GetRecord", "identifier": "not-an-oai-id", "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": "oai:other:1"}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2030-01-01"}, "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "subject:thien-van"}, "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "nonsense"}, "noRecordsMatch"),
]


def test_protocol_errors(client, harvest_corpus):
    for params, code in ERROR_CASES:
        r = client.get("/library/oai", params=params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
        check_response(r.content, params.get("verb"), error=code)


def test_tampered_and_cross_verb_tokens_are_refused(client, harvest_corpus):
    root = etree.fromstring(client.get("/library/oai", params={"verb": "ListIdentifiers",
                                                               "metadataPrefix": "oai_dc"}).content)
    token = root.findtext(".//o:resumptionToken", namespaces=NS)
    payload, sig = token.rsplit(".", 1)
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + sig
    for args in ({"verb": "ListIdentifiers", "resumptionToken": forged},
                 {"verb": "ListRecords", "resumptionToken": token}):
        check_response(client.get("/library/oai", params=args).content, None, error="badResumptionToken")


def test_drafts_are_never_disseminated_and_marc21_and_post(client, harvest_corpus, db):
    from sqlalchemy import select

    draft = db.scalars(select(LibraryItem).where(LibraryItem.status == "draft")).first()
    r = client.get("/library/oai", params={"verb": "GetRecord", "metadataPrefix": "oai_dc",
                                           "identifier": f"oai:hoclieu.soctrang.edu.vn:library/{draft.id}"})
    check_response(r.content, None, error="idDoesNotExist")
    item = harvest_corpus["published"][0]
    oai_id = f"oai:hoclieu.soctrang.edu.vn:library/{item.id}"
    root = check_response(client.post("/library/oai", data={"verb": "GetRecord", "metadataPrefix": "marc21",
                                                            "identifier": oai_id}).content, "GetRecord")
    title = root.find(".//m:record/m:datafield[@tag='245']/m:subfield[@code='a']", NS)
    assert title.text == item.title
    gone = harvest_corpus["withdrawn"][0]
    root = check_response(client.get("/library/oai", params={
        "verb": "GetRecord", "metadataPrefix": "oai_dc",
        "identifier": f"oai:hoclieu.soctrang.edu.vn:library/{gone.id}"}).content, "GetRecord")
    assert root.find(".//o:header", NS).get("status") == "deleted"
    assert root.find(".//o:metadata", NS) is None
    ident = check_response(client.get("/library/oai", params={"verb": "Identify"}).content, "Identify")
    assert ident.findtext(".//o:earliestDatestamp", namespaces=NS) == "2025-03-01T08:00:00Z"
