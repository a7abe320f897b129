"""Monthly partitions of the big PostgreSQL tables (declarative RANGE partitioning; SQLite is not partitioned).

- `ingest_events` by `event_id`: a UUIDv7, whose first 48 bits are the creation time in Unix ms, so its canonical
  text sorts by time; the primary key stays `event_id` alone: the idempotent ingest keeps its global uniqueness.
- `attendance_history` by `event_id` too: `unique(event_id)` stays global (apply_event's idempotency) and a
  lookup by event id reads one partition.
- `attendance_marks` by `day`: the slot `unique(student_id, day, session, period)` holds the key; primary key
  `(id, day)`.

A unique constraint of a partitioned table must contain the partition key, so `ingest_events`' `unique(school,
seq)` cannot stay: it is kept by a narrow unpartitioned table `ingest_event_seqs (school, seq) -> event_id`
filled by a BEFORE INSERT trigger, which skips (does not insert) an event whose (school, seq) another event
holds: the ingest then quarantines it as `seq_reused`, as before (central_server/ingest/service.py).

Each table has a DEFAULT partition, so no insert ever fails for a missing month. `ensure_partitions` (command
`central-server db partitions`, daily timer) creates the coming months ahead of time, and a month whose rows
already sit in the default partition is created by moving them (CREATE .. LIKE, move, ATTACH PARTITION).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

UUID7_KEY = "event_id"
PARTITIONED: dict[str, str] = {"ingest_events": UUID7_KEY, "attendance_history": UUID7_KEY,
                               "attendance_marks": "day"}
HISTORY_WINDOW_MONTHS = 36   # rows in the default partition older than this stay there (a wrong edge clock)


def add_months(month: dt.date, n: int) -> dt.date:
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def bound(table: str, month: dt.date) -> str:
    """The SQL literal of the lower bound of `month` for `table`'s key (a UUIDv7 prefix or a date)."""
    if PARTITIONED[table] == UUID7_KEY:
        ms = int(dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC).timestamp() * 1000)
        h = f"{ms:012x}"
        return f"'{h[:8]}-{h[8:12]}-0000-0000-000000000000'"
    return f"'{month.isoformat()}'"


def month_sql(table: str) -> str:
    """SQL giving the first day of the month of a row's partition key."""
    if PARTITIONED[table] == UUID7_KEY:
        return ("date_trunc('month', to_timestamp(('x' || substr(replace(event_id, '-', ''), 1, 12))::bit(48)"
                "::bigint / 1000.0) AT TIME ZONE 'UTC')::date")
    return "date_trunc('month', day)::date"


def months_in(conn: Connection, relation: str, table: str, oldest: dt.date, newest: dt.date) -> set[dt.date]:
    """The months in [oldest, newest] that rows of `relation` (laid out like `table`) fall in. Filtered on the key
    in SQL: an id that is not a UUIDv7 (e.g. generated demo data) would otherwise decode to a year past 9999, or
    to a random month that would get a partition of its own for a handful of rows."""
    key = PARTITIONED[table]
    v7 = f" AND substr({key}, 15, 1) = '7'" if key == UUID7_KEY else ""  # the version digit of a UUIDv7
    rows = conn.execute(text(f'SELECT DISTINCT {month_sql(table)} FROM "{relation}" WHERE {key} >= '
                             f'{bound(table, oldest)} AND {key} < {bound(table, add_months(newest, 1))}{v7}'))
    return set(rows.scalars())


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_{month:%Y_%m}"


def is_partitioned(conn: Connection, table: str) -> bool:
    return conn.execute(text("SELECT c.relkind = 'p' FROM pg_class c WHERE c.oid = to_regclass(:t)"),
                        {"t": table}).scalar() is True


def partitions_of(conn: Connection, table: str) -> dict[str, str]:
    """{partition name: its bound expression} of `table`."""
    rows = conn.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"), {"t": table})
    return dict(rows.all())


def create_default(conn: Connection, table: str) -> bool:
    if f"{table}_default" in partitions_of(conn, table):
        return False
    conn.execute(text(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT'))
    return True


def create_month(conn: Connection, table: str, month: dt.date) -> bool:
    """Create the partition of `month` (moving its rows out of the default partition); False if it exists."""
    month = month.replace(day=1)
    name = partition_name(table, month)
    if name in partitions_of(conn, table):
        return False
    key, lo, hi = PARTITIONED[table], bound(table, month), bound(table, add_months(month, 1))
    conn.execute(text(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)'))
    default = f"{table}_default"
    if default in partitions_of(conn, table):
        conn.execute(text(f'WITH moved AS (DELETE FROM "{default}" WHERE {key} >= {lo} AND {key} < {hi} '
                          f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved'))
    conn.execute(text(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM ({lo}) TO ({hi})'))
    return True


def ensure_partitions(conn: Connection, months_ahead: int = 3, today: dt.date | None = None) -> list[str]:
    """Make sure every partitioned table has its default partition, the partitions from last month to
    `months_ahead` months ahead, and one for each recent month whose rows landed in the default partition.
    Idempotent; returns the partitions created. Does nothing on SQLite or on unpartitioned tables."""
    if conn.dialect.name != "postgresql":
        return []
    this_month = (today or dt.datetime.now(dt.UTC).date()).replace(day=1)
    oldest, newest = add_months(this_month, -HISTORY_WINDOW_MONTHS), add_months(this_month, months_ahead)
    created: list[str] = []
    for table in PARTITIONED:
        if not is_partitioned(conn, table):
            continue
        if create_default(conn, table):
            created.append(f"{table}_default")
        months = {add_months(this_month, n) for n in range(-1, months_ahead + 1)}
        months |= months_in(conn, f"{table}_default", table, oldest, newest)
        for month in sorted(months):
            if create_month(conn, table, month):
                created.append(partition_name(table, month))
    return created
