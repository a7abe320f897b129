"""Default secrets (issue 15 item 9): the server refuses to start in production while any secret is a default,
and personal ids never reach the logs, even inside tracebacks with SQL parameters."""

from __future__ import annotations

import logging

import pytest

from central_server.admissions.config import AdmissionsSettings
from central_server.app import create_app
from central_server.core.logging import RedactingFilter, redact
from central_server.core.secrets_check import DefaultSecretError, default_secrets
from central_server.library.config import LibrarySettings, get_library_settings
from tests.central_server.conftest import make_settings


def test_production_refuses_default_secrets(tmp_path, monkeypatch):
    monkeypatch.delenv("CENTRAL_ADMISSIONS_PID_PEPPER", raising=False)
    settings = make_settings(f"sqlite:///{tmp_path / 'c.sqlite3'}", environment="production")
    with pytest.raises(DefaultSecretError) as err:
        create_app(settings)
    assert "CENTRAL_ADMISSIONS_PID_PEPPER" in str(err.value) and "CENTRAL_LIBRARY_OAI_TOKEN_SECRET" in str(err.value)


def test_production_starts_once_every_secret_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("CENTRAL_ADMISSIONS_PID_PEPPER", "a-real-pepper-from-the-vault-7f3a")
    monkeypatch.setenv("CENTRAL_LIBRARY_OAI_TOKEN_SECRET", "another-real-secret-91bc")
    monkeypatch.setenv("CENTRAL_IOC_WEBHOOK_SECRET", "a-third-real-secret-0c4e")
    settings = make_settings(f"sqlite:///{tmp_path / 'c.sqlite3'}", environment="production")
    get_library_settings.cache_clear()  # read the environment set above
    try:
        app = create_app(settings)
        app.state.engine.dispose()
    finally:
        get_library_settings.cache_clear()


def test_default_secret_detection_names_the_variable():
    assert default_secrets(AdmissionsSettings(_env_file=None)) == ["CENTRAL_ADMISSIONS_PID_PEPPER"]
    assert default_secrets(AdmissionsSettings(_env_file=None, pid_pepper="change-me-too")) == \
        ["CENTRAL_ADMISSIONS_PID_PEPPER"]
    assert default_secrets(LibrarySettings(_env_file=None, oai_token_secret="x" * 32)) == []


def test_personal_ids_are_hashed_in_messages_and_tracebacks():
    record = logging.LogRecord("central_server.ingest", logging.WARNING, __file__, 1,
                               "apply_event failed for %s: %s", ("e1", "student 094207000001 unknown"), None)
    try:
        raise ValueError("INSERT ... parameters ('079306001234', 'Nguyễn Văn A')")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "094207000001" not in text and "079306001234" not in text
    assert redact("094207000001") in text and redact("094207000001").startswith("pid#")


def test_sql_errors_do_not_carry_parameters(app, db):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as err:
        db.execute(text("INSERT INTO no_such_table (pid) VALUES (:pid)"), {"pid": "094207000001"})
    assert "094207000001" not in str(err.value)
