"""Admission plan through a form: the form shows the active plan (schools and quotas as a table, rules as fields),
saving it makes a new version, an invalid form keeps what was typed and says in Vietnamese which field is wrong
(nothing saved), JSON and TOML files load into the form and each version exports as TOML. SQLite and PostgreSQL."""

from __future__ import annotations

import tomllib
from html.parser import HTMLParser
from urllib.parse import urlencode

from sqlalchemy import func, select

from central_server.admissions.service import save_plan
from central_server.admissions.tables import AdmPlan


class Admin:
    id, username, role = None, "qt", "province_admin"


class FormFields(HTMLParser):
    """The (name, value) pairs a browser would submit for the form with id `form_id` (no button)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.pairs = form_id, False, []
        self._select, self._first, self._textarea = None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("file", "submit"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.pairs.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._first = a["name"], None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value", "")
            if "selected" in a:
                self.pairs.append((self._select, a.get("value", "")))
                self._select = None
        elif tag == "textarea":
            self._textarea = [a["name"], ""]

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            self.pairs.append((self._select, self._first or ""))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.pairs.append(tuple(self._textarea))
            self._textarea = None
        elif tag == "form":
            self.inside = False

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data


def fields(html: str, form_id: str = "plan-form") -> list[tuple[str, str]]:
    import html as html_lib

    parser = FormFields(form_id)
    parser.feed(html)
    return [(k, html_lib.unescape(v)) for k, v in parser.pairs]


def _change(pairs, name: str, index: int, value: str):
    """Set the `index`-th field called `name`."""
    out, seen = [], -1
    for k, v in pairs:
        if k == name:
            seen += 1
            if seen == index:
                v = value
        out.append((k, v))
    return out


def post_form(client, pairs, **kw):
    """POST the (name, value) pairs as a browser does (repeated names in order)."""
    return client.post("/admissions/plans/form", content=urlencode(pairs),
                       headers={"Content-Type": "application/x-www-form-urlencoded"}, **kw)


def _versions(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(AdmPlan))


def test_edit_plan_through_the_form(db, plan_dict, make_user, client_for):
    save_plan(db, Admin(), plan_dict())
    db.commit()
    admin = client_for(make_user("qt_so", "province_admin"))
    page = admin.get("/admissions/plans/form")
    assert page.status_code == 200
    pairs = fields(page.text)
    assert [v for k, v in pairs if k == "school_code"][:3] == ["A", "B", "C"]
    assert [v for k, v in pairs if k == "school_quota"][:3] == ["2", "2", "1"]
    assert dict(pairs)["offsets"] == "0, 1, 2" and dict(pairs)["date_registration_open"] == "2025-04-01T07:00"

    # B gets 5 places, a school D is added in a blank row, the registration closes a day later
    pairs = _change(pairs, "school_quota", 1, "5")
    pairs = _change(_change(_change(pairs, "school_code", 3, "D"), "school_name", 3, "THPT Lịch Hội Thượng"),
                    "school_quota", 3, "40")
    pairs = _change(pairs, "date_registration_close", 0, "2025-05-01T17:00")
    saved = post_form(admin, pairs + [("note", "thêm trường D")], follow_redirects=False)
    assert saved.status_code == 303, saved.text
    db.expire_all()
    row = db.scalars(select(AdmPlan).where(AdmPlan.active.is_(True))).one()
    assert row.version == 2 and row.note == "thêm trường D"
    assert [(s["code"], s["quota"]) for s in row.document["schools"]] == [("A", 2), ("B", 5), ("C", 1), ("D", 40)]
    assert row.document["dates"]["registration_close"] == "2025-05-01T17:00:00+07:00"  # typed in Vietnam time
    assert [t["key"] for t in row.document["tie_break"]] == [t["key"] for t in plan_dict()["tie_break"]]  # kept


def test_invalid_form_keeps_what_was_typed_and_names_the_field(db, plan_dict, make_user, client_for):
    save_plan(db, Admin(), plan_dict())
    db.commit()
    admin = client_for(make_user("qt_so", "province_admin"))
    pairs = fields(admin.get("/admissions/plans/form").text)
    bad = _change(_change(pairs, "school_quota", 1, "hai mươi"), "school_name", 2, "")
    bad = _change(bad, "offsets", 0, "0, 2, 1")
    r = post_form(admin, bad)
    assert r.status_code == 422
    errors = r.text[r.text.index('id="errors"'):r.text.index("</div>", r.text.index('id="errors"'))]
    assert "Trường, dòng 2 — Chỉ tiêu: phải là số nguyên" in errors
    assert "Trường, dòng 3 — Tên: chưa nhập" in errors
    assert 'value="hai mươi"' in r.text and 'value="0, 2, 1"' in r.text  # what was typed is kept
    assert _versions(db) == 1  # nothing saved
    # a rule of the plan as a whole, in Vietnamese
    r = post_form(admin, _change(pairs, "offsets", 0, "0, 2, 1"))
    assert r.status_code == 422 and "không được giảm dần" in r.text and _versions(db) == 1
    # broken JSON in the free part: said with its line, nothing saved
    r = post_form(admin, _change(pairs, "rest", 0, '{"tie_break": ['))
    assert r.status_code == 422 and "Các quy định khác (JSON): không phải JSON hợp lệ (dòng 1" in r.text


def test_import_json_toml_and_export_toml(db, plan_dict, make_user, client_for):
    row = save_plan(db, Admin(), plan_dict())
    db.commit()
    admin = client_for(make_user("qt_so", "province_admin"))
    exported = admin.get(f"/admissions/plans/{row.id}.toml")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    doc = tomllib.loads(exported.text)
    assert [s["code"] for s in doc["schools"]] == ["A", "B", "C"] and doc["subjects"][0]["name"] == "Ngữ văn"
    # the exported file loads back into the form, and saving it makes the same plan
    loaded = admin.post("/admissions/plans/form", data={"action": "import"},
                        files={"import_file": ("ke-hoach.toml", exported.content, "application/toml")})
    assert loaded.status_code == 200 and "Đã nạp ke-hoach.toml" in loaded.text
    assert post_form(admin, fields(loaded.text), follow_redirects=False).status_code == 303
    db.expire_all()
    new = db.scalars(select(AdmPlan).where(AdmPlan.active.is_(True))).one()
    assert new.version == 2 and new.document["schools"] == row.document["schools"]
    assert new.document["aspiration_rule"] == row.document["aspiration_rule"]
    # JSON loads too; a file that is neither is refused with a clear message
    js = admin.get(f"/admissions/plans/{row.id}.json").content
    assert "Đã nạp" in admin.post("/admissions/plans/form", data={"action": "import"},
                                  files={"import_file": ("plan.json", js, "application/json")}).text
    r = admin.post("/admissions/plans/form", data={"action": "import"},
                   files={"import_file": ("plan.toml", b"year = = 2025", "application/toml")})
    assert r.status_code == 422 and "Không đọc được tệp plan.toml" in r.text


def test_only_the_province_admin_edits_the_plan(db, plan_dict, make_user, client_for):
    save_plan(db, Admin(), plan_dict())
    db.commit()
    staff = client_for(make_user("cb_so", "province_staff"))
    assert staff.get("/admissions/plans/form").status_code == 403
    assert staff.post("/admissions/plans/form", data={"year": "2025"}).status_code == 403
    assert _versions(db) == 1
