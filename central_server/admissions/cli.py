"""`central-server admissions ...`: the allocation engine offline, for staff and scripts.

Register in central_server/cli.py with `app.add_typer(admissions_cli, name="admissions")`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .allocation import AllocationError, allocate
from .csvio import RowErrors, read_applicants, results_csv, ties_csv
from .deferred import compare, deferred_acceptance
from .outputs import OutputError, check_targets, write_all
from .plan import PlanError, load_plan

app = typer.Typer(help="Grade-10 admissions (offline tools).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Grade-10 admissions (offline tools)."""


class Mode(StrEnum):
    rule = "rule"
    deferred_acceptance = "deferred-acceptance"


@app.command("allocate")
def allocate_cmd(
    plan: Annotated[Path, typer.Option(help="the year's plan, .json or .toml")],
    applicants: Annotated[Path, typer.Option(help="applicants CSV")],
    out: Annotated[Path, typer.Option(help="result CSV to write")],
    ties: Annotated[Path | None, typer.Option(help="CSV of every tie decision")] = None,
    mode: Annotated[Mode, typer.Option(help="rule (official) or deferred-acceptance (simulation)")] = Mode.rule,
    declined: Annotated[Path | None, typer.Option(help="file of ids that declined a chuyên place")] = None,
    report: Annotated[Path | None, typer.Option(help="JSON report comparing rule and deferred acceptance")] = None,
) -> None:
    """Allocate places; writes nothing unless the plan and every applicant row are valid, and then writes
    every output file or none."""
    try:
        if ties and mode is Mode.deferred_acceptance:
            raise OutputError("--ties chỉ dùng với --mode rule: mô phỏng chấp nhận trì hoãn (deferred-acceptance) "
                              "xếp hạng chặt, không có quyết định hòa điểm nào để ghi")
        targets = {"--out": out} | ({"--ties": ties} if ties else {}) | ({"--report": report} if report else {})
        check_targets(targets, {"--plan": plan, "--applicants": applicants, "--declined": declined})
        p = load_plan(plan)
        pool = read_applicants(p, applicants)
        dec = _read_declined(declined) if declined else []
        res = (allocate if mode is Mode.rule else deferred_acceptance)(p, pool, specialised_declined=dec)
        files = {out: results_csv(res, [a.id for a in pool])}
        if ties:
            files[ties] = ties_csv(res)
        if report:
            other = deferred_acceptance(p, pool, specialised_declined=dec) if mode is Mode.rule else \
                allocate(p, pool, specialised_declined=dec)
            rule_r, da_r = (res, other) if mode is Mode.rule else (other, res)
            files[report] = json.dumps(compare(p, pool, rule_r, da_r), indent=2)
        write_all(files)
    except (PlanError, RowErrors, AllocationError, OutputError) as exc:
        typer.echo(f"lỗi: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{len(res.admissions)} admitted, {len(pool) - len(res.admissions)} not placed, "
               f"{len(res.excluded)} excluded, {len(res.ties)} tie decisions ({mode.value})")


def _read_declined(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").split()
    except UnicodeDecodeError as exc:
        raise OutputError(f"--declined {path}: tệp không phải UTF-8 (byte lỗi ở vị trí {exc.start})") from None
    except OSError as exc:
        raise OutputError(f"--declined {path}: không đọc được tệp ({exc.strerror or exc})") from None
