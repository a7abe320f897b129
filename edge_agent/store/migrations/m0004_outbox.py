"""The transactional outbox (`edge_agent.sync.outbox`): events waiting for the broker's PUBACK, and the per-school
sequence counter. `IF NOT EXISTS`: databases of older versions already hold these tables (the outbox used to create
them itself) and upgrade without a change."""

SQL = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,          -- per-school monotonic sequence number
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    body       BLOB NOT NULL,                -- the signed event, canonical JSON
    created_at REAL NOT NULL,                -- unix seconds
    sent_at    REAL,                         -- set on PUBACK, NULL = still to deliver
    attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox(seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS outbox_state (
    school   TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL                -- never decreases, even when old rows are purged
);
"""
