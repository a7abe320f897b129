"""The per-dialect full-text index over `library_search_docs`, created by the migration and by create_all.

SQLite: an external-content FTS5 table kept in step by triggers (text is accent-folded before it is stored).
PostgreSQL: the `unaccent` extension, a text search configuration `vn_unaccent` (unaccent + simple), and a
generated, GIN-indexed tsvector column (title weighted A, body D, filter facets C) and a title-only one.
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

FTS_TOKENIZER = "unicode61 remove_diacritics 2 categories 'L* N* Co Mn Mc'"

SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS library_fts USING fts5(title, body, facets, content='library_search_docs', "
    f"content_rowid='item_id', tokenize=\"{FTS_TOKENIZER}\")",
    "CREATE TRIGGER IF NOT EXISTS library_docs_ai AFTER INSERT ON library_search_docs BEGIN "
    "INSERT INTO library_fts(rowid, title, body, facets) VALUES (new.item_id, new.title, new.body, new.facets); END",
    "CREATE TRIGGER IF NOT EXISTS library_docs_ad AFTER DELETE ON library_search_docs BEGIN "
    "INSERT INTO library_fts(library_fts, rowid, title, body, facets) "
    "VALUES ('delete', old.item_id, old.title, old.body, old.facets); END",
    "CREATE TRIGGER IF NOT EXISTS library_docs_au AFTER UPDATE ON library_search_docs BEGIN "
    "INSERT INTO library_fts(library_fts, rowid, title, body, facets) "
    "VALUES ('delete', old.item_id, old.title, old.body, old.facets); "
    "INSERT INTO library_fts(rowid, title, body, facets) VALUES (new.item_id, new.title, new.body, new.facets); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS library_docs_ai",
    "DROP TRIGGER IF EXISTS library_docs_ad",
    "DROP TRIGGER IF EXISTS library_docs_au",
    "DROP TABLE IF EXISTS library_fts",
]

PG_CONFIG = "vn_unaccent"
PG_PREPARE = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "DO $$ BEGIN "
    f"IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{PG_CONFIG}') THEN "
    f"CREATE TEXT SEARCH CONFIGURATION {PG_CONFIG} (COPY = simple); "
    f"ALTER TEXT SEARCH CONFIGURATION {PG_CONFIG} ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple; "
    "END IF; END $$",
]
PG_CREATE = [
    "ALTER TABLE library_search_docs ADD COLUMN IF NOT EXISTS tsv tsvector GENERATED ALWAYS AS ("
    f"setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(body, '')), 'D') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(facets, '')), 'C')) STORED",
    "CREATE INDEX IF NOT EXISTS ix_library_search_docs_tsv ON library_search_docs USING gin (tsv)",
    # title matches come first: a title-only vector with its own index keeps that tier an index lookup
    "ALTER TABLE library_search_docs ADD COLUMN IF NOT EXISTS tsv_title tsvector GENERATED ALWAYS AS ("
    f"to_tsvector('{PG_CONFIG}'::regconfig, coalesce(title, ''))) STORED",
    "CREATE INDEX IF NOT EXISTS ix_library_search_docs_tsv_title ON library_search_docs USING gin (tsv_title)",
]


def statements(dialect: str, phase: str) -> list[str]:
    """DDL for `dialect` ("sqlite" | "postgresql"); phase "before" (prepare), "create" or "drop"."""
    if dialect == "sqlite":
        return {"before": [], "create": SQLITE_CREATE, "drop": SQLITE_DROP}[phase]
    if dialect == "postgresql":
        return {"before": PG_PREPARE, "create": PG_CREATE, "drop": []}[phase]
    raise ValueError(f"no full-text index for dialect {dialect!r}")


def attach(table: Table) -> None:
    """Make create_all/drop_all build and remove the index with the table."""
    for dialect in ("sqlite", "postgresql"):
        for sql in statements(dialect, "before"):
            event.listen(table, "before_create", DDL(sql).execute_if(dialect=dialect))
        for sql in statements(dialect, "create"):
            event.listen(table, "after_create", DDL(sql).execute_if(dialect=dialect))
        for sql in statements(dialect, "drop"):
            event.listen(table, "before_drop", DDL(sql).execute_if(dialect=dialect))
