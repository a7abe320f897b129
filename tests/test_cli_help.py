"""The school-facing CLIs (`edge-agent`, `enroll`) in an 80-column terminal (issue 20): every command's --help
fits (no line over 80 columns, nothing cut off with '…'), and is written in one language, Vietnamese: the
command's description and the help of each of its parameters."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from edge_agent.cli import app as edge_app
from enrollment_tools.cli import app as enroll_app

VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)


def _commands(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


CASES = [(prog, app, path, cmd) for prog, app in (("edge-agent", edge_app), ("enroll", enroll_app))
         for path, cmd in _commands(get_command(app))]


@pytest.mark.parametrize("prog, app, path, cmd", CASES, ids=[" ".join((c[0], *c[2])) for c in CASES])
def test_help_fits_80_columns_in_vietnamese(prog, app, path, cmd):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, prog_name=prog)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [ln for ln in lines if len(ln) > 80] == []
    assert [ln for ln in lines if "…" in ln] == []
    assert VIETNAMESE.search(cmd.help or ""), f"{prog} {' '.join(path)}: description not in Vietnamese: {cmd.help}"
    for param in getattr(cmd, "params", []):
        text = getattr(param, "help", None)
        if text is None:
            continue
        assert VIETNAMESE.search(text), f"{prog} {' '.join(path)} {param.name}: help not in Vietnamese: {text}"
