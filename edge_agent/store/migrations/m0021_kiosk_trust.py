"""Kiosk trust and review evidence (issues 15 item 6 and 20):

- `teachers.pin_must_change`: set when a teacher signs in with a PIN shorter than the 6 digits now required (or by
  `edge-agent teacher pin --must-change`); the kiosk then asks for a new PIN before anything else.
- `kiosk_client_failures`: wrong sign-ins per client address (per-client throttling, besides the per-teacher lockout).
- `lessons.substitute_teacher_id`: a named substitute who may correct and finalise that lesson besides its teacher;
  `lessons.reopened_*`: the last reopening of a finalised lesson by the teacher who finalised it.
- `sightings.crop`: the best face crop (highest score) of a student's sighting in a lesson, kept on the school box for
  the day only (purged by the engine's tick after local midnight).
- `review_queue.reason` / `suspected_attack`: why an item needs review (e.g. "nghi ngờ ảnh/màn hình" from the
  presentation-attack detector); suspected attacks are listed first.
"""

SQL = """
ALTER TABLE teachers ADD COLUMN pin_must_change INTEGER NOT NULL DEFAULT 0;
CREATE TABLE kiosk_client_failures (
    client TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    first_at TEXT NOT NULL,
    locked_until TEXT
);
ALTER TABLE lessons ADD COLUMN substitute_teacher_id TEXT;
ALTER TABLE lessons ADD COLUMN reopened_at TEXT;
ALTER TABLE lessons ADD COLUMN reopened_by TEXT;
ALTER TABLE sightings ADD COLUMN crop BLOB;
ALTER TABLE review_queue ADD COLUMN reason TEXT;
ALTER TABLE review_queue ADD COLUMN suspected_attack INTEGER NOT NULL DEFAULT 0;
"""
