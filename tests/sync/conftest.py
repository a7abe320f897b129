"""Fixtures for the sync suite: private Mosquitto brokers built from hardware/mosquitto/, central databases
(SQLite and PostgreSQL), school keys, edge databases."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from broker_proc import HW as HW_DIR  # noqa: F401 - re-exported for the tests
from broker_proc import ROOT, Broker, free_port, wait_port  # noqa: F401
from sqlalchemy import select

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else "python3"
CENTRAL_USER, CENTRAL_PASS = "central-ingest", "central-secret"


@pytest.fixture()
def broker_factory(tmp_path):
    made: list[Broker] = []

    def make(users: dict[str, str] | None = None, tls: dict[str, Path] | None = None) -> Broker:
        b = Broker(tmp_path / f"broker{len(made)}", users, tls)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop(kill=True)


@pytest.fixture()
def broker(broker_factory) -> Broker:
    """A private broker with the production ACL and password logins (central worker only; add schools)."""
    return broker_factory(users={CENTRAL_USER: CENTRAL_PASS})


@pytest.fixture(params=["sqlite", "postgresql"])
def central_db(request, tmp_path):
    """(url, sessionmaker) of an empty central database with the ingest tables, on SQLite and PostgreSQL."""
    from central_server.core.db import Base, make_engine, make_sessionmaker
    from central_server.ingest import tables

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'central.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    Base.metadata.create_all(engine, tables=[t.__table__ for t in (
        tables.IngestEvent, tables.IngestQuarantine, tables.SchoolKey, tables.EdgeStatus)])
    yield url, make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def control_db(request, tmp_path):
    """(url, sessionmaker) of an empty central database with the school keys, the control outbox and the audit
    log, on SQLite and PostgreSQL."""
    from central_server.core.db import Base, make_engine, make_sessionmaker
    from central_server.ingest import tables

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'central.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    from central_server.core.tables import AuditLog, User

    Base.metadata.create_all(engine, tables=[tables.SchoolKey.__table__, tables.ControlOutbox.__table__,
                                             User.__table__, AuditLog.__table__])
    yield url, make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request, tmp_path):
    """(url, engine, sessionmaker) of a central database brought to every module's head by the migrations."""
    from central_server.core.db import make_engine, make_sessionmaker
    from central_server.core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    engine = make_engine(url)
    yield url, engine, make_sessionmaker(engine)
    engine.dispose()


def new_school() -> tuple[str, bytes]:
    return f"T{uuid.uuid4().hex[:10]}", os.urandom(32)


def register(sessions, school: str, key: bytes) -> None:
    from central_server.ingest.service import set_school_key

    with sessions.begin() as s:
        set_school_key(s, school, key)


def central_ids(sessions) -> list[str]:
    from central_server.ingest.tables import IngestEvent

    with sessions() as s:
        return list(s.execute(select(IngestEvent.event_id)).scalars())


def wait_until(pred, timeout: float, step: float = 0.05, msg: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {msg}")


@pytest.fixture()
def edge_service(tmp_path, broker, model_store):
    """The demo school's edge service running with its MQTT link on the private broker:
    (service, demo, (OBAMA, BIDEN, BICH)) with Obama and Biden enrolled in the live gallery."""
    from edge_agent.config import load_settings
    from edge_agent.demo.e2e import BICH, BIDEN, OBAMA, build
    from edge_agent.service import EdgeService

    demo = build(tmp_path / "school", store=model_store, broker=True)
    settings = load_settings(demo.config)
    broker.add_user(settings.school_code, "pw")
    settings = settings.model_copy(update={"broker": settings.broker.model_copy(
        update={"port": broker.port, "password": "pw"})})
    service = EdgeService(settings, with_kiosk=False, with_link=True)
    service.start()
    assert service.gallery is not None and {OBAMA, BIDEN} <= set(service.gallery.student_ids)
    assert service._link.wait_connected(10)
    yield service, demo, (OBAMA, BIDEN, BICH)
    service.shutdown()


@pytest.fixture()
def central_api():
    """Start the ingest routes (reconcile, packages) over HTTP on a free port for a sessionmaker; -> base URL."""
    import threading

    import uvicorn
    from fastapi import FastAPI

    from central_server.ingest import routes

    servers = []

    def start(sessions) -> str:
        app = FastAPI()
        app.include_router(routes.router)
        app.state.sessionmaker = sessions
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        wait_port(port)
        servers.append(server)
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.should_exit = True
