"""library: rebuild the search documents' facet tokens for field search (author, keyword, year)

Revision ID: library_0002_field_search
Revises: library_0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from central_server.library.search import facets_of

revision = "library_0002_field_search"
down_revision = "library_0001"
branch_labels = None
depends_on = None

COLUMNS = ("id", "status", "subject_code", "grade", "material_type", "language", "school_id", "kind",
           "date_issued", "creators", "contributors", "keywords", "topic")


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT {', '.join(COLUMNS)} FROM library_items "  # noqa: S608 (constant)
                                "WHERE id IN (SELECT item_id FROM library_search_docs)")).mappings().all()
    for row in rows:
        item = SimpleNamespace(**{k: (json.loads(v) if isinstance(v, str) and k in ("creators", "contributors",
                                                                                     "keywords") else v)
                                  for k, v in row.items()})
        bind.execute(sa.text("UPDATE library_search_docs SET facets = :f WHERE item_id = :i"),
                     {"f": facets_of(item), "i": item.id})


def downgrade() -> None:
    """The extra facet tokens are harmless to the previous search code: nothing to undo."""
