"""Typed reading of `models/manifest.toml` and of the user-registered models."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")

Role = Literal["detector", "embedder", "liveness", "landmarks"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    # "repo": a model the project trained itself, committed under models/ (path relative to this folder)
    registry: Literal["pypi", "npm", "local", "repo"]
    package: str = ""
    version: str = ""
    path: str
    size: int | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Convert(_Strict):
    step: Literal["none", "tflite2onnx", "tflite_nhwc", "fold_dequant_prelu"] = "none"
    dynamic_batch: bool = False


class Final(_Strict):
    file: str
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class IOSpec(_Strict):
    input: str
    colour: Literal["RGB", "BGR"]
    normalisation: str
    output: str
    embedding_size: int | None = None


class ModelEntry(_Strict):
    name: str
    role: Role
    default: bool = False
    enabled: bool = True
    description: str
    licence: str
    provenance: str
    commercial_use: bool | Literal["unclear"]
    source: Source
    convert: Convert
    final: Final
    io: IOSpec
    user: bool = False
    status_note: str = ""
    data_terms: str = ""  # the data a model of our own was trained on, and the terms of that data

    @property
    def licence_warning(self) -> str | None:
        if self.commercial_use is False:
            return "non-commercial use only: not allowed as a production default"
        if self.commercial_use == "unclear":
            return "rights to the weights are unclear: see provenance"
        return None


class SampleFile(_Strict):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SampleSet(_Strict):
    name: str
    registry: Literal["pypi", "npm"]
    package: str
    version: str
    kind: Literal["sdist", "wheel", "npm"]
    licence: str
    files: dict[str, SampleFile]


class Manifest(_Strict):
    schema_version: int
    models: dict[str, ModelEntry]
    samples: dict[str, SampleSet]

    def defaults(self) -> list[ModelEntry]:
        return [m for m in self.models.values() if m.default]


def _entries(raw: dict, kind: str) -> dict:
    out = {}
    for name, body in raw.get(kind, {}).items():
        if not isinstance(body, dict):
            raise ValueError(f"{kind}.{name} must be a table")
        out[name] = {"name": name, **body}
    return out


def parse_manifest(raw: dict, origin: str = "manifest") -> Manifest:
    try:
        manifest = Manifest(
            schema_version=raw.get("schema", 0),
            models=_entries(raw, "models"),
            samples=_entries(raw, "samples"),
        )
    except (ValidationError, ValueError) as exc:
        raise ValueError(f"{origin} is invalid: {exc}") from exc
    if manifest.schema_version != 1:
        raise ValueError(f"{origin}: unsupported schema {manifest.schema_version}")
    for role in ("detector", "landmarks", "embedder", "liveness"):
        defaults = [m.name for m in manifest.models.values() if m.role == role and m.default]
        if len(defaults) > 1:
            raise ValueError(f"{origin}: several default {role}s: {', '.join(defaults)}")
    return manifest


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    with path.open("rb") as fh:
        return parse_manifest(tomllib.load(fh), origin=str(path))
