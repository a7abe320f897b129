"""The model store against the real registries' clients, the real models and a temporary cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from models import ModelStore, ModelStoreError
from models.manifest import MANIFEST_PATH, parse_manifest

ROOT = Path(__file__).resolve().parents[2]


def _raw_manifest() -> dict:
    return tomllib.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def _only(*names: str, **changes) -> dict:
    raw = _raw_manifest()
    raw["models"] = {n: raw["models"][n] for n in names}
    for dotted, value in changes.items():
        node = raw["models"]
        *path, last = dotted.split("__")
        for key in path:
            node = node[key]
        node[last] = value
    return raw


def _run_models(args: list[str], models_dir: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "MODELS_DIR": str(models_dir), **env}, timeout=600)


def test_manifest_is_complete():
    manifest = parse_manifest(_raw_manifest())
    defaults = {m.role: m for m in manifest.defaults()}
    assert set(defaults) == {"detector", "landmarks", "embedder", "liveness"}, \
        "one default detector, landmarker, embedder and PAD model"
    for entry in manifest.models.values():
        assert entry.licence and entry.provenance and entry.io.normalisation and entry.io.output
        assert entry.source.registry in {"pypi", "npm", "repo"}
        if entry.source.registry == "repo":  # our own trained models: committed, with their data terms
            assert (ROOT / "models" / entry.source.path).is_file() and entry.data_terms
    assert defaults["embedder"].io.embedding_size == 192
    assert defaults["embedder"].licence_warning, "the murky provenance of MobileFaceNet must show"
    assert defaults["landmarks"].convert.step == "tflite_nhwc" and defaults["landmarks"].licence_warning
    # InsightFace weights are non-commercial: no manifest default may come from insightface.
    assert all("insightface" not in m.source.package for m in manifest.defaults())


def test_manifest_rejects_two_defaults_for_a_role():
    raw = _raw_manifest()
    raw["models"]["antispoof"]["role"] = "embedder"
    raw["models"]["antispoof"]["default"] = True
    with pytest.raises(ValueError, match="several default embedders"):
        parse_manifest(raw)


def test_fetch_from_scratch_is_verified_and_idempotent(tmp_path):
    store = ModelStore(root=tmp_path)
    statuses = store.fetch()
    assert {s.entry.name: s.state for s in statuses} == {"yunet": "ok", "onet": "ok", "mobilefacenet": "ok",
                                                         "pad_nuaa_lr": "ok"}
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.onnx")}
    store.fetch()  # second run: nothing re-downloaded or rewritten
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.onnx")} == stamps
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.glob(".fetch-*"))
    result = _run_models(["verify"], tmp_path)
    assert result.returncode == 0, result.stderr


def test_corrupt_model_makes_verify_fail_naming_it(tmp_path, model_store):
    for name in ("yunet", "onet", "mobilefacenet", "pad_nuaa_lr"):
        shutil.copyfile(model_store.path(name), tmp_path / model_store.path(name).name)
    target = tmp_path / model_store.path("mobilefacenet").name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    result = _run_models(["verify"], tmp_path)
    assert result.returncode == 1
    assert "mobilefacenet" in result.stderr and "corrupt" in result.stderr
    assert "yunet" not in result.stderr
    with pytest.raises(ModelStoreError, match="mobilefacenet"):
        ModelStore(root=tmp_path).path("mobilefacenet")


def test_missing_model_is_a_clear_error(tmp_path):
    result = _run_models(["verify"], tmp_path)
    assert result.returncode == 1 and "missing" in result.stderr and "yunet" in result.stderr
    with pytest.raises(ModelStoreError, match="model 'yunet': missing"):
        ModelStore(root=tmp_path).path("yunet")


def test_hash_mismatch_leaves_nothing_half_written(tmp_path):
    raw = _only("yunet", yunet__final__sha256="0" * 64)
    store = ModelStore(root=tmp_path, manifest=parse_manifest(raw))
    with pytest.raises(ModelStoreError, match="model 'yunet': sha256 mismatch for the converted file"):
        store.fetch()
    assert list(tmp_path.iterdir()) == [], "no partial file may stay in the cache"


def test_unreachable_registry_names_the_model(tmp_path, monkeypatch):
    store = ModelStore(root=tmp_path, manifest=parse_manifest(_only("yunet")))
    # pip with no configuration but an index that nothing answers on, and no local caches or wheels
    for key, value in {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
                       "PIP_NO_CACHE_DIR": "1", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "",
                       "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ModelStoreError, match="model 'yunet': could not download from the registry"):
        store.fetch()
    assert list(tmp_path.iterdir()) == []


def test_user_model_shows_licence_warning(tmp_path, model_store):
    # Stand-in for a user's InsightFace file: any ONNX file registered from a local path.
    src = tmp_path / "w600k_r50.onnx"
    shutil.copyfile(model_store.path("mobilefacenet"), src)
    cache = tmp_path / "cache"
    result = _run_models(["register", "buffalo_l_arcface", str(src), "--role", "embedder",
                          "--licence", "InsightFace: non-commercial research only", "--non-commercial"], cache)
    assert result.returncode == 0, result.stderr
    assert "non-commercial" in result.stderr
    listing = _run_models(["list"], cache, COLUMNS="250")
    assert "buffalo_l_arcface" in listing.stdout and "non-commercial use only" in listing.stdout
    store = ModelStore(root=cache)
    assert store.status("buffalo_l_arcface").state == "ok"
    assert store.default("embedder").name == "mobilefacenet", "a registered model is not the default unless asked"
    bad = _run_models(["register", "yunet", str(src), "--role", "detector", "--licence", "x"], cache)
    assert bad.returncode == 1 and "name is taken" in bad.stderr


def test_antispoof_is_kept_but_not_fetched(tmp_path):
    store = ModelStore(root=tmp_path)
    entry = store.entry("antispoof")
    assert entry.role == "liveness" and not entry.enabled and not entry.default
    with pytest.raises(ModelStoreError, match="model 'antispoof': cannot be fetched"):
        store.fetch(["antispoof"])
