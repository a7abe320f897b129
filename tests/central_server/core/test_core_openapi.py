"""OpenAPI: the schema is served and lists every API route with its tag; the docs page renders."""

from __future__ import annotations


def test_openapi_schema_and_docs(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/auth/token", "/api/auth/me", "/api/audit", "/api/masterdata/schools",
                 "/api/masterdata/schools/{school_id}/imports", "/api/attendance/overview",
                 "/api/attendance/classes/{class_id}/export", "/api/attendance/students/{student_id}"):
        assert path in paths, path
    assert not any(p.startswith("/login") or p.startswith("/overview") for p in paths)  # pages stay out
    assert client.get("/docs").status_code == 200
