"""One small enrolment crop per student for the teacher's kiosk (`enroll photos --keep-thumbnails` fills it;
`enroll remove` and erasure requests must delete the row)."""

SQL = """
CREATE TABLE student_thumbnails (
    student_id TEXT PRIMARY KEY REFERENCES students(id) ON DELETE CASCADE,
    jpeg BLOB NOT NULL CHECK (length(jpeg) <= 65536),
    created_at TEXT NOT NULL
);
"""
