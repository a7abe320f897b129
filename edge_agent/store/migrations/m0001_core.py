"""Shared master data: classes, students, teachers, consent and the audit log (filled by the enrolment CLI)."""

SQL = """
CREATE TABLE classes (
    id TEXT PRIMARY KEY,                       -- e.g. '10A1'
    name TEXT NOT NULL,
    grade INTEGER CHECK (grade BETWEEN 1 AND 12),
    school_year TEXT,                          -- e.g. '2025-2026'
    homeroom_teacher_id TEXT
);
CREATE TABLE students (
    id TEXT PRIMARY KEY CHECK (length(id) = 12 AND id NOT GLOB '*[^0-9]*'),   -- 12-digit personal id
    full_name TEXT NOT NULL CHECK (length(trim(full_name)) > 0),
    date_of_birth TEXT,                        -- ISO date
    class_id TEXT REFERENCES classes(id),
    gender TEXT CHECK (gender IN ('nam', 'nu', 'khac') OR gender IS NULL),
    status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'transferred', 'graduated', 'withdrawn')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX students_class ON students(class_id, status);
CREATE TABLE teachers (
    id TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    pin_hash TEXT,                             -- scrypt, see edge_agent.kiosk.pins
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    student_id TEXT NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,                     -- e.g. 'attendance'
    given_by TEXT NOT NULL CHECK (given_by IN ('parent', 'student')),
    given_at TEXT NOT NULL,
    withdrawn_at TEXT,
    note TEXT
);
CREATE INDEX consents_student ON consents(student_id, purpose);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"""
