"""The end-to-end acknowledgement of the outbox (`edge_agent.sync.outbox`): `acked_at` is set when the central
server confirms that its database holds the event (an `events.ack` control message, or the reconcile call).
`sent_at` keeps meaning "the broker took it (PUBACK)": a row with `sent_at` set and `acked_at` NULL is sent, not
acknowledged, and goes out again when the central server says it lacks it. Rows delivered before this migration
start unacknowledged; the first exchanges with the central server confirm them (or re-send the ones it lacks)."""

SQL = """
ALTER TABLE outbox ADD COLUMN acked_at REAL;      -- unix seconds; NULL = the central server has not confirmed it
CREATE INDEX IF NOT EXISTS outbox_unacked ON outbox(seq) WHERE acked_at IS NULL;
"""
