"""Fixtures for every central_server suite: a database on SQLite AND PostgreSQL, the app, signed-in clients.

Usage in a module's tests (tests/central_server/<module>/test_*.py):

    def test_something(app, db, make_user, client_for, bearer_for):
        user = make_user("cb_so", "province_staff")
        c = client_for(user)                     # TestClient with a session cookie (+ its CSRF token header)
        h = bearer_for(user)                     # {"Authorization": "Bearer ..."} for the API

CSRF (central_server/core/csrf.py): every unsafe request authenticated by the session cookie, and every page form
(signed in or not), must carry the token. `client`, `client_for(user)` and `login_as` send it in the header
X-CSRF-Token (taken from a real rendered form); a fresh TestClient needs `arm_csrf(client)` first.

Every test that uses `db_url` (directly or through `app`) runs twice: [sqlite] and [postgresql].
Test files have no __init__.py here, so give them unique basenames (test_<module>_<topic>.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from central_server.app import create_app, metadata
from central_server.core.auth import create_user
from central_server.core.config import Settings
from central_server.core.db import Base
from central_server.core.tables import User

DEFAULT_PASSWORD = "Matkhau-2025!"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """The URL of a fresh empty database: a temporary SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.sqlite3'}"
    return request.getfixturevalue("pg_url")


def make_settings(db_url: str, **overrides) -> Settings:
    """Settings for tests: cheap argon2 parameters (the hash format is the same), plain-text logs."""
    values = dict(database_url=db_url, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                  log_json=False, log_level="WARNING")
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture()
def settings(db_url) -> Settings:
    return make_settings(db_url)


@pytest.fixture()
def app(settings):
    """The application on a database whose schema comes from `Base.metadata.create_all` (fast path)."""
    application = create_app(settings)
    Base.metadata.create_all(application.state.engine)
    yield application
    application.state.engine.dispose()


@pytest.fixture()
def db(app) -> Iterator[Session]:
    """A session on the app's database (commit to make rows visible to requests)."""
    with app.state.sessionmaker() as session:
        yield session


_CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([0-9a-f]+)">')


def csrf_token_of(client: TestClient, page: str = "/login") -> str:
    """The CSRF token that the real form on `page` carries (rendering it sets the anonymous cookie if needed)."""
    r = client.get(page)
    m = _CSRF_INPUT.search(r.text)
    assert m, f"no CSRF field in the form of {page}: {r.status_code} {r.text[:200]}"
    return m.group(1)


def arm_csrf(client: TestClient, page: str = "/login") -> TestClient:
    """Make `client` send its current CSRF token (header X-CSRF-Token) on every request."""
    client.headers["X-CSRF-Token"] = csrf_token_of(client, page)
    return client


@pytest.fixture()
def client(app) -> Iterator[TestClient]:
    """An anonymous TestClient that sends the CSRF token of its anonymous cookie (like the public forms do)."""
    with TestClient(app) as c:
        yield arm_csrf(c)


@pytest.fixture()
def make_user(db) -> Callable[..., User]:
    """make_user(username, role, school_id=None, password=DEFAULT_PASSWORD, full_name="") -> committed User."""

    def _make(username: str, role: str, school_id: int | None = None, password: str = DEFAULT_PASSWORD,
              full_name: str = "") -> User:
        user = create_user(db, username, password, role, full_name=full_name or username, school_id=school_id)
        db.commit()
        return user

    return _make


def login(client: TestClient, username: str, password: str = DEFAULT_PASSWORD) -> TestClient:
    """Sign `client` in through the web form (with its CSRF token); fails the test if sign-in is refused.

    Afterwards the client sends the CSRF token of its new session in the X-CSRF-Token header."""
    token = csrf_token_of(client, "/login")
    r = client.post("/login", data={"username": username, "password": password, "next": "/account",
                                     "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, f"login of {username} failed: {r.status_code} {r.text[:200]}"
    return arm_csrf(client, "/account")


@pytest.fixture()
def client_for(app) -> Iterator[Callable[[User], TestClient]]:
    """client_for(user) -> a new TestClient signed in as `user` (session cookie)."""
    clients: list[TestClient] = []

    def _client(user: User, password: str = DEFAULT_PASSWORD) -> TestClient:
        c = TestClient(app)
        c.__enter__()
        clients.append(c)
        return login(c, user.username, password)

    yield _client
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture()
def bearer_for(client) -> Callable[[User], dict[str, str]]:
    """bearer_for(user) -> {"Authorization": "Bearer <token>"} obtained from /api/auth/token."""

    def _headers(user: User, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
        r = client.post("/api/auth/token", data={"username": user.username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return _headers


def _schema_diff(db_url: str, tables: set[str]) -> list:
    """Differences between the migrated database at `db_url` and the models, limited to `tables`."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from central_server.core.db import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(ctx, metadata())
    finally:
        engine.dispose()

    def _table_of(diff) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for obj in item[1:]:
            name = getattr(obj, "name", None) if not isinstance(obj, str) else None
            table = getattr(obj, "table", None)
            if table is not None and getattr(table, "name", None):
                return table.name
            if hasattr(obj, "columns") and name:
                return name
            if isinstance(obj, str):
                return obj
        return None

    return [d for d in diffs if _table_of(d) in tables]


@pytest.fixture()
def schema_diff() -> Callable[[str, set[str]], list]:
    """A module's migration test: `upgrade(db_url)` then `assert schema_diff(db_url, {"my_table"}) == []`."""
    return _schema_diff


@pytest.fixture()
def login_as() -> Callable[..., TestClient]:
    """login_as(client, username, password=DEFAULT_PASSWORD) -> the same client, signed in (web form)."""
    return login
