"""Enrolment data (written by the `enroll` CLI): encrypted face templates, gallery versions, erasure queue.

- `face_templates`: one row per template; the embedding is AES-GCM encrypted at rest (`enrollment_tools.templates`)
  with a key derived from the school's gallery key; `model_sha256` says which embedder made it (templates of
  another embedder are never mixed in a gallery). `photo_sha256` makes re-running a photo folder idempotent.
- `gallery_versions`: a new, increasing version each time the set of templates changes (enrolment, erasure).
- `erasure_queue`: each erasure (`enroll remove`, consent withdrawn) with what was deleted locally; rows with
  `propagated_at IS NULL` still have to reach the running service / central server (`edge_agent.store.erasure_queue`).
  No foreign key: the row must outlive the student's data.
"""

SQL = """
CREATE TABLE face_templates (
    id INTEGER PRIMARY KEY,
    student_id TEXT NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    model_name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL CHECK (dim > 0),
    quality REAL NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('photo', 'capture')),
    photo_sha256 TEXT,
    nonce BLOB NOT NULL CHECK (length(nonce) = 12),
    ciphertext BLOB NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,          -- enrolled despite a duplicate warning (--force)
    created_at TEXT NOT NULL
);
CREATE INDEX face_templates_student ON face_templates(student_id);
CREATE UNIQUE INDEX face_templates_photo ON face_templates(student_id, photo_sha256, model_sha256)
    WHERE photo_sha256 IS NOT NULL;
CREATE TABLE gallery_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    n_students INTEGER NOT NULL,
    n_templates INTEGER NOT NULL
);
CREATE TABLE gallery_exports (
    id INTEGER PRIMARY KEY,
    gallery_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    n_students INTEGER NOT NULL,
    n_templates INTEGER NOT NULL
);
CREATE TABLE erasure_queue (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    student_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    templates_removed INTEGER NOT NULL,
    thumbnails_removed INTEGER NOT NULL,
    propagated_at TEXT
);
CREATE INDEX erasure_pending ON erasure_queue(propagated_at, id);
"""
