"""Structured logging: one JSON object per request with method, path, status, duration and user id."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from central_server.app import create_app
from central_server.core.db import Base


def test_access_log_is_json(db_url, settings, capsys):
    app = create_app(settings.model_copy(update={"log_json": True, "log_level": "INFO"}))
    Base.metadata.create_all(app.state.engine)
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/auth/me?personal_id=094207000001").status_code == 401
    finally:
        app.state.engine.dispose()
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    requests = [x for x in lines if x.get("logger") == "central_server.access"]
    assert [(x["method"], x["path"], x["status"]) for x in requests] == [("GET", "/healthz", 200),
                                                                          ("GET", "/api/auth/me", 401)]
    assert all(isinstance(x["ms"], float) and x["request_id"] for x in requests)
    assert "094207000001" not in json.dumps(lines)  # query strings (personal data) are not logged
