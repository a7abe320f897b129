"""Restore drill (issue 19), on SQLite and PostgreSQL, against a real broker, real ingest worker and the real
reconcile route: back up the central database while ingest keeps writing, lose the server, restore the backup
into a fresh database, and let the school's reconciliation re-send what the backup missed: 0 lost, 0 duplicated."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import psycopg
import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, central_ids, new_school, register, wait_until
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sync_helpers import EdgeSite, RunningLink, link_settings

from central_server.core.backup import BackupSettings, backup, restore
from central_server.core.db import make_engine, make_sessionmaker
from central_server.ingest.config import IngestSettings
from central_server.ingest.tables import IngestEvent, IngestQuarantine
from central_server.ingest.worker import IngestWorker
from edge_agent.sync.reconcile import reconcile

pytestmark = [pytest.mark.mqtt]


@contextlib.contextmanager
def fresh_database(like_url: str, tmp_path):
    """An empty database of the same kind as `like_url` (a new PostgreSQL database on the same server)."""
    u = make_url(like_url)
    if u.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"r_{uuid.uuid4().hex[:12]}"
    admin = f"host={u.host} port={u.port} user={u.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield u.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_worker(broker, sessions) -> IngestWorker:
    worker = IngestWorker(IngestSettings(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS,
                                         _env_file=None), sessions, apply=None)
    worker.start()
    assert worker.wait_connected(10), broker.log()
    return worker


def rows_of(sessions, school: str) -> list[tuple[str, int]]:
    with sessions() as s:
        return [tuple(r) for r in s.execute(select(IngestEvent.event_id, IngestEvent.seq)
                                            .where(IngestEvent.school == school))]


def test_restore_drill_zero_lost_zero_duplicated(broker, migrated, central_api, tmp_path):
    url, _engine, sessions = migrated
    school, key = new_school()
    broker.add_user(school, "pw-" + school)
    register(sessions, school, key)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = RunningLink(link_settings(site, broker.port, "pw-" + school))
    worker = start_worker(broker, sessions)
    settings = BackupSettings(dir=tmp_path / "backups", key="11" * 32, keep=3, _env_file=None)
    try:
        for i in range(200):                                  # before the backup
            site.record(i)
        wait_until(lambda: len(central_ids(sessions)) == 200, 60, msg="the first 200 events")

        writing = threading.Event()

        def keep_writing():                                   # ingest keeps writing while the backup runs
            for i in range(200, 500):
                site.record(i)
                if i == 220:
                    writing.set()
                time.sleep(0.005)

        writer = threading.Thread(target=keep_writing, daemon=True)
        writer.start()
        assert writing.wait(30)
        wait_until(lambda: len(central_ids(sessions)) > 200, 30, msg="ingest writing during the backup")
        before = set(central_ids(sessions))                   # committed before the backup started
        info = backup(url, settings)
        writer.join(60)
        for i in range(500, 550):                             # certainly after the backup's snapshot
            site.record(i)
        wait_until(lambda: site.unsent() == 0 and len(central_ids(sessions)) == 550, 60,
                   msg="the original central database to hold all 550 events")
        original = dict(rows_of(sessions, school))
    finally:
        worker.stop()
    assert info.encrypted and info.path.stat().st_mode & 0o777 == 0o600

    # the server is lost; restore its backup into a fresh database and run the central side there again
    with fresh_database(url, tmp_path) as fresh_url:
        assert restore(info.path, fresh_url, settings) == info.kind
        engine = make_engine(fresh_url)
        restored = make_sessionmaker(engine)
        try:
            got = rows_of(restored, school)
            ids = [eid for eid, _ in got]
            assert len(ids) == len(set(ids)), "a restored event is there twice"
            assert before <= set(ids), f"{len(before - set(ids))} events committed before the backup are missing"
            assert set(ids) <= set(original) and all(original[e] == s for e, s in got)
            missing_after_restore = set(original) - set(ids)
            assert len(missing_after_restore) >= 50                # at least the 50 recorded after the backup

            worker = start_worker(broker, restored)
            try:
                base = central_api(restored)
                resent = reconcile(site.outbox, base, school, key, grace_s=0)
                assert sorted(resent) == sorted(original[e] for e in missing_after_restore)
                wait_until(lambda: len(central_ids(restored)) == 550 and site.unsent() == 0, 60,
                           msg="reconciliation to re-send the events the backup missed")
                time.sleep(0.3)
                with restored() as s:
                    final = s.execute(select(IngestEvent.event_id, IngestEvent.seq)
                                      .where(IngestEvent.school == school)).all()
                    quarantined = s.scalar(select(func.count()).select_from(IngestQuarantine))
                    total = s.scalar(select(func.count()).select_from(IngestEvent))
            finally:
                worker.stop()
        finally:
            engine.dispose()
    link.stop()
    assert total == len(final) == 550                          # 0 duplicated
    assert sorted(e for e, _ in final) == sorted(site.event_ids())  # 0 lost
    assert sorted(s for _, s in final) == list(range(1, 551))
    assert quarantined == 0                                     # no re-sent event was taken for a replay
