"""Calendar, bell schedule, timetable, lessons with per-student marks, sightings, gate log and review queue."""

SQL = """
CREATE TABLE terms (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL CHECK (end_date >= start_date)
);
CREATE TABLE holidays (
    date TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE bell_periods (
    session TEXT NOT NULL CHECK (session IN ('morning', 'afternoon')),
    period INTEGER NOT NULL CHECK (period BETWEEN 1 AND 7),
    start_time TEXT NOT NULL,                  -- 'HH:MM'
    end_time TEXT NOT NULL,
    PRIMARY KEY (session, period)
);
CREATE TABLE timetable (
    class_id TEXT NOT NULL REFERENCES classes(id),
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),   -- ISO: 1 = Monday (Thứ 2)
    session TEXT NOT NULL CHECK (session IN ('morning', 'afternoon')),
    period INTEGER NOT NULL CHECK (period BETWEEN 1 AND 7),
    subject TEXT NOT NULL,
    room TEXT NOT NULL,
    teacher_id TEXT,
    PRIMARY KEY (class_id, weekday, session, period)
);
CREATE INDEX timetable_room ON timetable(room, weekday, session, period);
CREATE TABLE lessons (
    id INTEGER PRIMARY KEY,
    date TEXT NOT NULL,
    session TEXT NOT NULL,
    period INTEGER NOT NULL,
    class_id TEXT NOT NULL REFERENCES classes(id),
    room TEXT NOT NULL,
    subject TEXT NOT NULL,
    teacher_id TEXT,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'proposed', 'finalised')),
    window_closed_at TEXT,
    finalised_at TEXT,
    finalised_by TEXT,
    final_event_id TEXT,
    flagged_at TEXT,
    UNIQUE (date, session, period, class_id)
);
CREATE TABLE marks (
    lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    student_id TEXT NOT NULL REFERENCES students(id),
    proposal TEXT CHECK (proposal IN ('present', 'late', 'absent')),   -- the camera's proposal
    proposed_at TEXT,
    score REAL,
    mark TEXT CHECK (mark IN ('present', 'late', 'P', 'K')),          -- the teacher's decision
    note TEXT,
    marked_by TEXT,
    marked_at TEXT,
    final TEXT CHECK (final IN ('present', 'late', 'P', 'K')),         -- set only on finalisation
    PRIMARY KEY (lesson_id, student_id)
);
CREATE TABLE sightings (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    camera TEXT NOT NULL,
    room TEXT,
    student_id TEXT NOT NULL,
    class_id TEXT,
    lesson_id INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('in_class', 'seen_in_room', 'outside_window')),
    score REAL
);
CREATE INDEX sightings_student ON sightings(student_id, at);
CREATE TABLE gate_log (
    date TEXT NOT NULL,
    student_id TEXT NOT NULL,
    arrival_at TEXT,
    departure_at TEXT,
    PRIMARY KEY (date, student_id)
);
CREATE TABLE review_queue (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    camera TEXT NOT NULL,
    room TEXT,
    lesson_id INTEGER REFERENCES lessons(id),
    decision TEXT NOT NULL CHECK (decision IN ('review', 'unknown')),
    candidate_id TEXT,
    score REAL,
    track_id TEXT,
    crop BLOB,                                 -- small JPEG, kept only at the school, purged after N days
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'confirmed', 'rejected')),
    resolved_student_id TEXT,
    resolved_by TEXT,
    resolved_at TEXT
);
CREATE INDEX review_pending ON review_queue(state, lesson_id);
CREATE TABLE lesson_events (             -- which outbox events belong to a lesson (sync state on the kiosk)
    lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (lesson_id, event_id)
);
CREATE TABLE kiosk_sessions (
    token_hash TEXT PRIMARY KEY,
    teacher_id TEXT NOT NULL REFERENCES teachers(id),
    csrf TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""
