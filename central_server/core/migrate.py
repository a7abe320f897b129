"""Alembic driven from code: `alembic_config(url)`, `upgrade(url)` (all module heads)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, target: str = "heads") -> None:
    """Bring the database at `url` to every module's head (``alembic upgrade heads``)."""
    command.upgrade(alembic_config(url), target)


def downgrade(url: str, target: str) -> None:
    command.downgrade(alembic_config(url), target)


def missing_heads(url: str) -> set[str]:
    """The module heads the database at `url` has not reached (empty: fully migrated). Raises SQLAlchemy's
    OperationalError when the database cannot be reached."""
    script = ScriptDirectory.from_config(alembic_config(url))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    # a branch that another depends on (depends_on) is not listed in the version table once the dependant is
    applied = {r.revision for r in script.revision_map.iterate_revisions(current, "base")} if current else set()
    return set(script.get_heads()) - applied


def one_line(exc: BaseException) -> str:
    """The first line of a database error's own message, without SQLAlchemy's SQL and background link."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__
