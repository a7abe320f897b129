"""The offline admissions CLI refuses malformed files with a clear message and writes every output or none."""

from __future__ import annotations

import csv
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from central_server.admissions import outputs
from central_server.admissions.cli import app as cli
from central_server.admissions.csvio import RowErrors, read_applicants
from central_server.admissions.plan import parse_plan
from tests.central_server.admissions.conftest import small_plan_dict

HEADER = "id,van,toan,anh,priority,prize,nv1,nv2,ethnicity\n"
GOOD = HEADER + "a1,7,8,9,,,A,B,Kinh\na2,6,6,6,,,B,,Khmer\n"


@pytest.fixture()
def files(small_plan, tmp_path):
    plan = small_plan(aspiration_count=2, aspiration_rule={"kind": "offsets", "offsets": [0, 1]})
    (tmp_path / "p.json").write_text(plan.model_dump_json(), encoding="utf-8")
    (tmp_path / "a.csv").write_text(GOOD, encoding="utf-8")
    return tmp_path


def run(tmp_path, *extra, applicants="a.csv", plan="p.json", out="r.csv"):
    args = ["allocate", "--plan", str(tmp_path / plan), "--applicants", str(tmp_path / applicants)]
    if out is not None:
        args += ["--out", str(tmp_path / out)]
    return CliRunner().invoke(cli, [*args, *extra])


def refused(res) -> str:
    """A refusal: exit 2 with a message, never a traceback."""
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    return res.output


def outputs_in(tmp_path) -> set[str]:
    return {p.name for p in tmp_path.rglob("*") if p.name not in {"p.json", "a.csv", "plan.json"}}


def test_blank_nv1_with_nv2_filled_is_refused(files):
    (files / "a.csv").write_text(HEADER + "a1,7,8,9,,,A,B,\na2,7,8,9,,,,B,\n", encoding="utf-8")
    out = refused(run(files))
    assert "line 3: nv1: empty while nv2 is filled" in out
    assert outputs_in(files) == set()


def test_short_rows_extra_fields_and_duplicate_columns_count_physical_lines(files):
    (files / "a.csv").write_text(
        HEADER
        + 'a1,7,8,9,,,A,B,"Kinh\nand a second line"\n'  # lines 2-3: one record over two lines
        + "a2,7,8,9,,,A,B\n"                              # line 4: one field short
        + "\n"                                            # line 5: blank, skipped
        + "a3,7,8,9,,,A,B,Kinh,extra\n"                   # line 6: one field too many
        + "a4,7,8,9,,,A,,Kinh\n"                          # line 7: fine
        + "a5,7,8,9,,,A,A,Kinh\n",                        # line 8: the same school twice
        encoding="utf-8")
    out = refused(run(files))
    assert "line 4: 8 field(s), the header has 9" in out
    assert "line 6: 10 field(s), the header has 9" in out
    assert "line 8: aspiration: the same school twice" in out
    assert "line 2" not in out and "line 7" not in out
    (files / "a.csv").write_text("id,van,toan,anh,nv1,toan\na1,7,8,9,A,8\n", encoding="utf-8")
    assert "line 1: duplicate column(s) 'toan'" in refused(run(files))
    (files / "a.csv").write_text("id,van,toan,anh,nv1,\na1,7,8,9,A,\n", encoding="utf-8")
    assert "line 1: column 6 has no name" in refused(run(files))
    assert outputs_in(files) == set()


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(-2, 2), st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_every_wrong_field_count_is_reported_at_its_physical_line(rows):
    """Rows with a random number of missing/extra fields, blank lines and two-line quoted fields: exactly the
    rows whose field count differs from the header's are refused, each at the physical line it starts on."""
    plan = parse_plan(small_plan_dict(aspiration_count=2, aspiration_rule={"kind": "offsets", "offsets": [0, 1]}))
    text, line, expected = HEADER, 2, []
    for i, (delta, blank_before, two_lines) in enumerate(rows):
        if blank_before:
            text += "\n"
            line += 1
        fields = [f"x{i}", "7", "8", "9", "", "", "A", "", '"Kinh\nKhmer"' if two_lines else "Kinh"]
        fields = fields[:len(fields) + delta] if delta < 0 else fields + ["more"] * delta
        if delta:
            expected.append(f"line {line}: {len(fields)} field(s), the header has 9")
        text += ",".join(fields) + "\n"
        line += 2 if two_lines and (delta >= 0) else 1
    if not expected:
        assert len(read_applicants(plan, io.StringIO(text))) == len(rows)
        return
    with pytest.raises(RowErrors) as err:
        read_applicants(plan, io.StringIO(text))
    assert err.value.errors == expected


def test_a_field_over_the_csv_limit_is_refused_with_its_line(files):
    big = "K" * (csv.field_size_limit() + 1)
    (files / "a.csv").write_text(GOOD + f"a3,7,8,9,,,A,,{big}\n", encoding="utf-8")
    out = refused(run(files))
    assert "line 4: a field is longer than 131,072 characters" in out
    assert outputs_in(files) == set()


def test_non_utf8_plan_and_applicants_are_refused_clearly(files):
    text = (files / "p.json").read_text(encoding="utf-8").replace('"THPT A"', '"THPT Thạnh Phú"')
    (files / "plan.json").write_bytes(text.encode("utf-16"))  # Notepad's "Unicode"
    out = refused(run(files, plan="plan.json"))
    assert "không phải UTF-8" in out and "plan.json" in out
    (files / "plan.json").write_bytes(b'year = "\xff"\n')
    (files / "plan.json").rename(files / "plan.toml")
    assert "không phải UTF-8" in refused(run(files, plan="plan.toml"))
    (files / "a.csv").write_bytes((GOOD + "a3,7,8,9,,,A,,Khơ-me\n").encode("cp1258"))  # Windows Vietnamese
    assert "không phải UTF-8" in refused(run(files))
    assert outputs_in(files) == {"plan.toml"}


@pytest.mark.parametrize("option,target,needle", [
    ("--out", "missing/r.csv", "không tồn tại"),
    ("--out", "folder", "đây là một thư mục"),
    ("--ties", "missing/t.csv", "không tồn tại"),
    ("--ties", "folder", "đây là một thư mục"),
    ("--report", "missing/c.json", "không tồn tại"),
    ("--report", "folder", "đây là một thư mục"),
    ("--report", "r.csv", "trùng tệp với --out"),
    ("--out", "a.csv", "trùng tệp với --applicants"),
])
def test_bad_output_paths_are_refused_before_anything_is_written(files, option, target, needle):
    (files / "folder").mkdir()
    extra = {"--out": "r.csv", "--ties": "t.csv", "--report": "c.json"}
    extra[option] = target
    args = [a for opt, path in extra.items() for a in (opt, str(files / path))]
    out = refused(run(files, *args, out=None))
    assert needle in out and option in out
    assert outputs_in(files) == {"folder"}
    assert (files / "a.csv").read_text(encoding="utf-8") == GOOD


def test_deferred_acceptance_mode_writes_no_tie_file(files):
    out = refused(run(files, "--mode", "deferred-acceptance", "--ties", str(files / "t.csv")))
    assert "--ties chỉ dùng với --mode rule" in out
    assert outputs_in(files) == set()
    res = run(files, "--mode", "deferred-acceptance")
    assert res.exit_code == 0, res.output
    assert outputs_in(files) == {"r.csv"}


def test_outputs_are_written_all_or_none(files, monkeypatch):
    (files / "r.csv").write_text("the previous result\n", encoding="utf-8")
    args = ("--ties", str(files / "t.csv"), "--report", str(files / "c.json"))
    real_replace, calls = os.replace, []

    def fail_on_second(src, dst):  # the disk fills up while the second new file is put in place
        if str(src).endswith(".tmp"):
            calls.append(dst)
        if len(calls) == 2 and str(src).endswith(".tmp"):
            raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", fail_on_second)
    out = refused(run(files, *args))
    assert "không ghi được tệp kết quả" in out and "không tệp nào được ghi" in out
    monkeypatch.undo()
    # the first rename had happened: it is rolled back, so every target is as before and no temporary is left
    assert (files / "r.csv").read_text(encoding="utf-8") == "the previous result\n"
    assert outputs_in(files) == {"r.csv"}
    res = run(files, *args)
    assert res.exit_code == 0, res.output
    assert outputs_in(files) == {"r.csv", "t.csv", "c.json"}
    assert (files / "r.csv").read_text(encoding="utf-8").startswith("id,admitted")
