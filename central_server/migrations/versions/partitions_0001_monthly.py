"""partitions: ingest_events, attendance_history and attendance_marks by month (PostgreSQL only)

Declarative RANGE partitioning (central_server/core/partitions.py says which key and why). Each table is
rebuilt: renamed aside, recreated `PARTITION BY RANGE` with the same columns, defaults (its id sequence is
handed over), foreign keys and indexes, its primary/unique keys extended by the partition key where needed,
the default partition and the months of its data plus the coming ones created, the rows copied, the old table
dropped. `ingest_events`' unique (school, seq) moves to `ingest_event_seqs`, kept by a BEFORE INSERT trigger.
SQLite is unchanged (nothing to do). Runs in the migration's transaction: it completes or leaves nothing.

Revision ID: partitions_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from central_server.core.partitions import (
    HISTORY_WINDOW_MONTHS,
    PARTITIONED,
    add_months,
    create_default,
    create_month,
    ensure_partitions,
    months_in,
)

revision = "partitions_0001"
down_revision = None
branch_labels = ("partitions",)
depends_on = ("ingest_0002", "attendance_0001")

# (primary key, {unique constraint: columns}) partitioned / as before
KEYS = {
    "ingest_events": ((["event_id"], {}), (["event_id"], {"uq_ingest_events_school": ["school", "seq"]})),
    "attendance_history": ((["id", "event_id"], {"uq_attendance_history_event_id": ["event_id"]}),
                           (["id"], {"uq_attendance_history_event_id": ["event_id"]})),
    "attendance_marks": ((["id", "day"], {"uq_attendance_marks_slot": ["student_id", "day", "session", "period"]}),
                         (["id"], {"uq_attendance_marks_slot": ["student_id", "day", "session", "period"]})),
}
SEQ_INDEX = "ix_ingest_events_school_seq"
CLAIM_SEQ = """
CREATE OR REPLACE FUNCTION ingest_events_claim_seq() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE held varchar(36);
BEGIN
    INSERT INTO ingest_event_seqs (school, seq, event_id) VALUES (NEW.school, NEW.seq, NEW.event_id)
        ON CONFLICT (school, seq) DO NOTHING;
    IF FOUND THEN
        RETURN NEW;  -- the usual case: a new (school, seq)
    END IF;
    SELECT s.event_id INTO held FROM ingest_event_seqs s WHERE s.school = NEW.school AND s.seq = NEW.seq;
    IF held = NEW.event_id THEN
        RETURN NEW;  -- the same event again: ON CONFLICT (event_id) skips it
    END IF;
    IF NOT EXISTS (SELECT 1 FROM ingest_events e WHERE e.event_id = held AND e.school = NEW.school
                   AND e.seq = NEW.seq) THEN
        -- a stale claim: its event was not stored with this seq (a known id sent again under another seq,
        -- skipped by ON CONFLICT after claiming) or was deleted; the claim passes to this event
        UPDATE ingest_event_seqs SET event_id = NEW.event_id WHERE school = NEW.school AND seq = NEW.seq;
        RETURN NEW;
    END IF;
    RETURN NULL;  -- (school, seq) is held by another stored event: skipped; the ingest quarantines it (seq_reused)
END $$
"""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cols(cols: list[str]) -> str:
    return ", ".join(_q(c) for c in cols)


def _rebuild(table: str, partitioned: bool) -> str:
    """Recreate `table` (partitioned or plain) with its constraints; returns the old table's new name."""
    bind = op.get_bind()
    insp = sa.inspect(bind)
    fks = insp.get_foreign_keys(table)
    indexes = [ix for ix in insp.get_indexes(table) if not ix["unique"] and ix["name"] != SEQ_INDEX]
    serials = [(col, seq) for col, seq in bind.execute(sa.text(
        "SELECT a.attname, pg_get_serial_sequence(:t, a.attname) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 AND NOT a.attisdropped"), {"t": table}) if seq]
    old = f"{table}_before_{'partitions' if partitioned else 'unpartition'}"
    op.execute(f"ALTER TABLE {_q(table)} RENAME TO {_q(old)}")
    for fk in fks:
        op.execute(f"ALTER TABLE {_q(old)} DROP CONSTRAINT {_q(fk['name'])}")
    for ix in indexes:
        op.execute(f"DROP INDEX {_q(ix['name'])}")
    for name in bind.execute(sa.text("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:t) "
                                     "AND contype IN ('p', 'u')"), {"t": old}).scalars():
        op.execute(f"ALTER TABLE {_q(old)} DROP CONSTRAINT {_q(name)}")
    if table == "ingest_events":
        op.execute(f"DROP INDEX IF EXISTS {_q(SEQ_INDEX)}")
    suffix = f" PARTITION BY RANGE ({_q(PARTITIONED[table])})" if partitioned else ""
    op.execute(f"CREATE TABLE {_q(table)} (LIKE {_q(old)} INCLUDING DEFAULTS){suffix}")
    for col, seq in serials:
        op.execute(f"ALTER SEQUENCE {seq} OWNED BY {_q(table)}.{_q(col)}")
    pk, uniques = KEYS[table][0 if partitioned else 1]
    op.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q('pk_' + table)} PRIMARY KEY ({_cols(pk)})")
    for name, cols in uniques.items():
        op.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} UNIQUE ({_cols(cols)})")
    for ix in indexes:
        op.execute(f"CREATE INDEX {_q(ix['name'])} ON {_q(table)} ({_cols(ix['column_names'])})")
    for fk in fks:
        ondelete = (fk.get("options") or {}).get("ondelete")
        op.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(fk['name'])} FOREIGN KEY "
                   f"({_cols(fk['constrained_columns'])}) REFERENCES {_q(fk['referred_table'])} "
                   f"({_cols(fk['referred_columns'])})" + (f" ON DELETE {ondelete}" if ondelete else ""))
    return old


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
    for table in PARTITIONED:
        old = _rebuild(table, partitioned=True)
        if table == "ingest_events":
            op.execute(f"CREATE INDEX {_q(SEQ_INDEX)} ON ingest_events (school, seq)")  # reconcile's range scan
            op.execute("CREATE TABLE ingest_event_seqs (school varchar(32) NOT NULL, seq bigint NOT NULL, "
                       "event_id varchar(36) NOT NULL, CONSTRAINT pk_ingest_event_seqs PRIMARY KEY (school, seq))")
            op.execute(CLAIM_SEQ)
            op.execute("CREATE TRIGGER ingest_events_claim_seq BEFORE INSERT ON ingest_events FOR EACH ROW "
                       "EXECUTE FUNCTION ingest_events_claim_seq()")
        create_default(bind, table)
        oldest = add_months(this_month, -HISTORY_WINDOW_MONTHS)
        for month in sorted(months_in(bind, old, table, oldest, add_months(this_month, 12))):
            create_month(bind, table, month)
        op.execute(f"INSERT INTO {_q(table)} SELECT * FROM {_q(old)}")
        op.execute(f"DROP TABLE {_q(old)}")
    ensure_partitions(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in PARTITIONED:
        old = _rebuild(table, partitioned=False)
        op.execute(f"INSERT INTO {_q(table)} SELECT * FROM {_q(old)}")
        op.execute(f"DROP TABLE {_q(old)}")  # with its partitions (and the trigger on ingest_events)
    op.execute("DROP FUNCTION IF EXISTS ingest_events_claim_seq()")
    op.execute("DROP TABLE IF EXISTS ingest_event_seqs")
