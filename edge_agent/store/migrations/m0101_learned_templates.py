"""Learned templates (issue 17): templates the school's camera learned from sightings a teacher confirmed, and the
best-frame embedding each camera proposal keeps until its period is finalised.

Numbered after `m0100_enrolment` because it rebuilds `face_templates` (SQLite cannot change a CHECK constraint):
- `face_templates.source` also accepts 'learned'; `learned_from` (JSON: lesson, track, camera, the finalising
  teacher, score, margin, drift score) says where a learned template came from; `low_resolution` flags a template
  enrolled from a 48-80 px face after upscaling.
- `sighting_embeddings`: the best frame's embedding of a camera proposal or review item (one per lesson and
  student), AES-GCM
  encrypted like the templates; used when the teacher finalises the lesson, deleted then, or at the end of the
  day when unused. No photos.
"""

SQL = """
CREATE TABLE face_templates_new (
    id INTEGER PRIMARY KEY,
    student_id TEXT NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    model_name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL CHECK (dim > 0),
    quality REAL NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('photo', 'capture', 'learned')),
    photo_sha256 TEXT,
    nonce BLOB NOT NULL CHECK (length(nonce) = 12),
    ciphertext BLOB NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    low_resolution INTEGER NOT NULL DEFAULT 0,
    learned_from TEXT
);
INSERT INTO face_templates_new (id, student_id, model_name, model_sha256, dim, quality, source, photo_sha256, nonce,
                                ciphertext, forced, created_at)
    SELECT id, student_id, model_name, model_sha256, dim, quality, source, photo_sha256, nonce, ciphertext, forced,
           created_at FROM face_templates;
DROP TABLE face_templates;
ALTER TABLE face_templates_new RENAME TO face_templates;
CREATE INDEX face_templates_student ON face_templates(student_id);
CREATE UNIQUE INDEX face_templates_photo ON face_templates(student_id, photo_sha256, model_sha256)
    WHERE photo_sha256 IS NOT NULL;
CREATE TABLE sighting_embeddings (
    lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    student_id TEXT NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    camera TEXT NOT NULL,
    track_id TEXT,
    via TEXT NOT NULL DEFAULT 'proposal' CHECK (via IN ('proposal', 'review')),
    model_sha256 TEXT NOT NULL,
    quality REAL NOT NULL,
    score REAL NOT NULL,
    margin REAL NOT NULL,
    nonce BLOB NOT NULL CHECK (length(nonce) = 12),
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (lesson_id, student_id)
);
"""
