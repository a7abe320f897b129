"""The library migration builds the same schema as the models, plus the dialect's full-text index
(FTS5 + triggers on SQLite; unaccent, vn_unaccent and a GIN-indexed tsvector on PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import inspect, text

from central_server.core.auth import create_user
from central_server.core.db import make_engine, make_sessionmaker
from central_server.core.migrate import upgrade
from central_server.library import service
from central_server.library.schemas import ItemIn
from central_server.library.search import SearchQuery, search

TABLES = {"library_files", "library_items", "library_reviews", "library_usage", "library_search_docs",
          "library_searches"}


def test_migration_matches_models_and_search_works(db_url, schema_diff):
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        # the PostgreSQL tsvector columns and their GIN indexes are created by search_ddl, outside the models
        diffs = [d for d in schema_diff(db_url, TABLES) if not (
            isinstance(d, tuple) and ((d[0] == "remove_column" and d[3].name.startswith("tsv"))
                                      or (d[0] == "remove_index" and d[1].name.startswith("ix_library_search_doc"))))]
        assert diffs == []
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                assert conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'unaccent'")) == 1
                assert conn.scalar(text("SELECT to_tsvector('vn_unaccent', 'Đường Lịch sử')::text")) == \
                    "'duong':1 'lich':2 'su':3"
            else:
                assert conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'library_fts'")) == 1
        with make_sessionmaker(engine)() as session:
            user = create_user(session, "gv_mig", "Matkhau-2025!", "teacher", school_id=3)
            item = service.create_item(session, ItemIn(title="Địa lí Sóc Trăng", subject_code="dia-li"), user)
            session.commit()
            page = search(session, SearchQuery(q="dia li soc trang", statuses=("draft",)))
            assert page.ids == [item.id]
    finally:
        engine.dispose()
    upgrade(db_url)  # idempotent
