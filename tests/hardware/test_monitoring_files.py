"""hardware/monitoring/: the Prometheus alert rules and config (promtool when the Debian package is installed,
else parsed), the Grafana dashboard and provisioning files, and the scrape-target generator for the schools.
Every metric a rule or a panel names must exist in the real expositions of the central app, the ingest worker
and the edge agent."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "hardware" / "monitoring"
GENERATOR = MON / "scrape_targets.py"
TOKEN = "ops-" + "5d1e8a0b4c" * 4
METRIC = re.compile(r"\b((?:central|edge)_[a-z0-9_]+)\b")
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")
REQUIRED_ALERTS = {"EdgeOffline", "EdgeOutboxBacklogOld", "IngestQuarantineRate", "HighRequestLatency",
                   "DbPoolExhausted"}


def _names(text: str) -> set[str]:
    return {f.name for f in text_string_to_metric_families(text)}


@pytest.fixture(scope="module")
def exposed(tmp_path_factory) -> set[str]:
    """Family names of the three real expositions (central app, ingest worker process registry, edge agent)."""
    from central_server.app import create_app
    from central_server.core.config import Settings
    from central_server.core.db import Base
    from central_server.ingest import metrics as ingest_metrics  # noqa: F401 - registers the worker's metrics
    from edge_agent.metrics import EdgeMetrics
    from tests.edge_agent.school_testkit import make_school

    tmp = tmp_path_factory.mktemp("expositions")
    app = create_app(Settings(_env_file=None, database_url=f"sqlite:///{tmp / 'c.sqlite3'}", metrics_token=TOKEN,
                              metrics_networks=[], log_json=False, log_level="WARNING"))
    Base.metadata.create_all(app.state.engine)
    r = TestClient(app).get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    app.state.engine.dispose()

    class NoCameras:  # a school box whose edge.toml lists no camera yet: the school-wide families
        workers: list = []
        outcomes: dict = {}

        def mqtt_connected(self) -> bool:
            return False

    edge = EdgeMetrics("THPT-LDT", make_school(tmp), NoCameras())
    names = _names(r.text) | _names(generate_latest(REGISTRY).decode())
    names |= _names(generate_latest(edge.registry).decode())
    # the per-camera families are shown with a real running agent in tests/edge_agent/test_edge_metrics.py
    return names | {"edge_frames", "edge_detections", "edge_embeddings", "edge_decisions",
                    "edge_camera_frames_captured", "edge_camera_streaming"}


def referenced(expr: str) -> set[str]:
    out = set()
    for name in METRIC.findall(expr):
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        out.add(name)
    return out


def test_every_metric_named_in_rules_and_dashboard_is_exposed(exposed):
    rules = yaml.safe_load((MON / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    dash = json.loads((MON / "grafana" / "dashboards" / "soctrang-edu.json").read_text(encoding="utf-8"))
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dash["templating"]["list"]]
    used = set().union(*map(referenced, exprs))
    assert used - exposed == set(), f"named but never exposed: {sorted(used - exposed)}"
    assert len(used) >= 20, "the rules and the dashboard cover the central, ingest and edge metrics"
    # the families a metrics family must not silently drop out of (a rename breaks this test)
    assert {"central_http_request_duration_seconds", "central_db_pool_checked_out_connections",
            "central_ingest_events", "edge_outbox_oldest_unsent_age_seconds", "edge_stage_duration_seconds"} <= used


def test_alert_rules(tmp_path):
    path = MON / "prometheus" / "alerts.yml"
    rules = [r for g in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]
    assert REQUIRED_ALERTS <= {r["alert"] for r in rules}
    for r in rules:
        assert r["expr"].strip() and r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]
        assert re.fullmatch(r"\d+[smh]", r["for"]), r["alert"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`): rules were parsed, not compiled")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
    # the rules fire when they should and not before (EdgeOffline, EdgeOutboxBacklogOld, DbPoolExhausted,
    # IngestQuarantineRate on synthetic series): promtool's rule unit tests, alerts_test.yml
    result = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=path.parent, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_prometheus_config_with_generated_targets(tmp_path):
    conf = tmp_path / "prom"
    shutil.copytree(MON / "prometheus", conf)
    (conf / "central-metrics.token").write_text(TOKEN, encoding="utf-8")
    csv = tmp_path / "truong.csv"
    csv.write_text("Mã trường,Tên trường,Địa chỉ edge\n" + "".join(
        f"THPT-{i:02d},Trường THPT số {i},{f'10.8.{i}.2' if i % 2 else ''}\n" for i in range(1, 40)),
        encoding="utf-8")
    out = conf / "targets" / "edges.json"
    result = subprocess.run([sys.executable, str(GENERATOR), "--csv", str(csv), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    groups = json.loads(out.read_text(encoding="utf-8"))
    assert len(groups) == 39 and len({g["labels"]["school"] for g in groups}) == 39
    assert groups[0] == {"targets": ["10.8.1.2:9108"],
                         "labels": {"school": "THPT-01", "school_name": "Trường THPT số 1"}}
    assert groups[1]["targets"] == ["edge-thpt-02.ops.internal:9108"]
    config = yaml.safe_load((conf / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"central", "ingest", "edge"} and jobs["central"]["authorization"]["type"] == "Bearer"
    assert jobs["edge"]["file_sd_configs"][0]["files"] == ["targets/edges.json"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed: the config was parsed, not checked")
    result = subprocess.run([promtool, "check", "config", str(conf / "prometheus.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generator_reads_the_central_schools_table_and_refuses_bad_lists(tmp_path):
    from central_server.core.db import Base, make_engine, make_sessionmaker
    from central_server.masterdata.tables import Province, School

    url = f"sqlite:///{tmp_path / 'central.sqlite3'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine, tables=[Province.__table__, School.__table__])
    with make_sessionmaker(engine).begin() as s:
        if s.get(Province, "92") is None:  # the provinces table may come seeded with its codes
            s.add(Province(code="92", name="Cần Thơ"))
            s.flush()
        s.add_all([School(code=f"S{i:03d}", name=f"THPT {i}", province_code="92", active=i != 40)
                   for i in range(1, 41)])
    engine.dispose()
    out = tmp_path / "edges.json"
    result = subprocess.run([sys.executable, str(GENERATOR), "--database-url", url, "--port", "9200",
                             "--host-template", "{code}.vpn.so-gd", "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    groups = json.loads(out.read_text(encoding="utf-8"))
    assert len(groups) == 39, "the 39 active schools; the inactive one is not scraped"
    assert groups[0]["targets"] == ["s001.vpn.so-gd:9200"] and groups[0]["labels"]["school"] == "S001"

    before = out.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\nTHPT-A,A\nTHPT-A,A again\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(GENERATOR), "--csv", str(bad), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "row 3: school THPT-A is listed twice" in result.stderr
    assert out.read_bytes() == before, "a refused list leaves the previous targets in place"
    bad.write_text("code,name,edge_host\nTHPT-B,B,evil host;rm\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(GENERATOR), "--csv", str(bad), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "invalid edge address" in result.stderr


def test_grafana_dashboard_and_provisioning():
    dash = json.loads((MON / "grafana" / "dashboards" / "soctrang-edu.json").read_text(encoding="utf-8"))
    ds = yaml.safe_load((MON / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    prov = yaml.safe_load((MON / "grafana" / "provisioning" / "dashboards" / "soctrang-edu.yml").read_text())
    assert ds["apiVersion"] == 1 and prov["apiVersion"] == 1
    uid = ds["datasources"][0]["uid"]
    assert ds["datasources"][0]["type"] == "prometheus"
    provider = prov["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"].endswith("soctrang-edu")
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    graphs = [p for p in dash["panels"] if p["type"] != "row"]
    assert len(graphs) >= 12
    for p in graphs:
        assert p["type"] in ("timeseries", "stat", "table", "gauge"), p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        assert all(t["datasource"]["uid"] == uid for t in p["targets"]), p["title"]
    boxes = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in dash["panels"]]
    assert len(boxes) == len(set(boxes)), "no two panels share a place"
