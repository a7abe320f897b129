"""What every `enroll` command shares: the school's settings and database, common options, output and errors.

Exit status: 0 done, 1 refused or failed (bad input, nothing written), 2 configuration or usage problem.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from edge_agent.config import ConfigError, EdgeSettings, load_settings
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.store import school_db
from edge_agent.store.school_keys import GALLERY_KEY, KeyError_, read_key
from edge_agent.store.tabular import TableError

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", envvar="ENROLL_CONFIG",
                                         help="tệp edge.toml của trường")]
JsonOpt = Annotated[bool, typer.Option("--json", help="kết quả JSON")]
ActorOpt = Annotated[str, typer.Option("--actor", envvar="ENROLL_ACTOR", help="người thực hiện (nhật ký)")]
SchoolOpt = Annotated[str, typer.Option("--school", help="mã trường (khớp tệp cấu hình)")]
DEFAULT_CONFIG = Path("edge.toml")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


DEFAULT_ACTOR = default_actor()


class EnrollError(Exception):
    """A refusal with a message for the operator (Vietnamese) and an exit status."""

    def __init__(self, message: str, code: int = 1, **details: Any):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


@dataclass
class School:
    settings: EdgeSettings
    conn: sqlite3.Connection
    _key: bytes | None = field(default=None, repr=False)

    @property
    def code(self) -> str:
        return self.settings.school_code

    @property
    def gallery_key(self) -> bytes:
        if self._key is None:
            self._key = read_key(self.settings.paths.keys_dir, GALLERY_KEY)
        return self._key

    @property
    def gallery_seal(self) -> GallerySeal:
        """Encrypts the installed gallery file at rest (edge_agent/recognition/gallery_seal.py)."""
        return GallerySeal(self.gallery_key, self.code)


@contextmanager
def open_school(config: Path, school: str | None = None) -> Iterator[School]:
    """The school of `config` with its database open (migrated); `school` must match its code if given."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise EnrollError(str(exc), code=2) from None
    if school is not None and school != settings.school_code:
        raise EnrollError(f"--school {school} không khớp với trường trong {config} ({settings.school_code}); "
                          "kiểm tra lại mã trường hoặc tệp cấu hình", code=2)
    conn = school_db.connect(settings.paths.db_path)
    try:
        yield School(settings, conn)
    finally:
        school_db.close(conn)


class Output:
    """Human output (rich, Vietnamese) or one JSON object; errors go to stderr (or into the JSON)."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.console = Console(stderr=as_json, highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def result(self, data: dict, human: str | None = None) -> None:
        if self.as_json:
            typer.echo(json.dumps({"ok": True, **data}, ensure_ascii=False, default=str))
        elif human:
            self.console.print(human)

    def fail(self, exc: EnrollError) -> None:
        if self.as_json:
            typer.echo(json.dumps({"ok": False, "error": exc.message, **exc.details}, ensure_ascii=False,
                                  default=str))
        else:
            self.err.print(f"[bold red]Lỗi:[/] {exc.message}", markup=True, soft_wrap=True)
        raise typer.Exit(exc.code)


@contextmanager
def command(as_json: bool) -> Iterator[Output]:
    """Run a command body: known errors become a clear message and a non-zero exit status."""
    out = Output(as_json)
    try:
        yield out
    except EnrollError as exc:
        out.fail(exc)
    except (TableError, KeyError_) as exc:
        out.fail(EnrollError(str(exc)))
    except ConfigError as exc:
        out.fail(EnrollError(str(exc), code=2))
