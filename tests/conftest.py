"""Fixtures shared by every suite: the shared data sets, the real broker, the real PostgreSQL server."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
DATASETS = SHARED / "datasets"
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
PG_HOST, PG_PORT = "127.0.0.1", 5432


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def datasets() -> Path:
    """`../shared/datasets`; tests that use it skip with a clear reason where it is absent."""
    if not DATASETS.is_dir():
        pytest.skip(f"face data sets not found at {DATASETS} (set SHARED_DIR or check out ../shared)")
    return DATASETS


@pytest.fixture(scope="session")
def model_store():
    """The project's model store, fetched by `make test` before pytest runs."""
    from models import ModelStore

    store = ModelStore()
    bad = [s.entry.name for s in store.verify() if s.state != "ok"]
    if bad:
        pytest.fail(f"models not fetched or corrupt: {', '.join(bad)}; run `python -m models fetch`")
    return store


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """The real Mosquitto broker (.ci/run starts it); failing, not skipping, when it is down."""
    if not _port_open(MQTT_HOST, MQTT_PORT):
        pytest.fail(f"Mosquitto is not running at {MQTT_HOST}:{MQTT_PORT} (.ci/run starts it)")
    return MQTT_HOST, MQTT_PORT


@pytest.fixture()
def pg_url():
    """A fresh, empty PostgreSQL database on the real server, dropped after the test."""
    if not _port_open(PG_HOST, PG_PORT):
        pytest.fail(f"PostgreSQL is not running at {PG_HOST}:{PG_PORT} (.ci/run starts it)")
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
