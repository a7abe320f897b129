"""Which embedder a school runs: `mfn` (MobileFaceNet, the default), `sface` or `fusion` (both, fused).

The choice is a setting of the edge box (`recognition.embedder` in its config, chosen per province or
school). `build_embedder` returns the embedder and the identity its templates carry (`name`, `sha256`):
a gallery and a thresholds file made for one identity are refused by the others, so templates of
two embedders never mix. The fused pair's weight comes from its calibrated thresholds file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge_agent.vision.embedder import Embedder
from edge_agent.vision.fusion import FUSION_NAME, FusedEmbedder, fusion_sha256

Choice = Literal["mfn", "sface", "fusion"]
CHOICES: tuple[str, ...] = ("mfn", "sface", "fusion")
MODEL_NAMES = {"mfn": "mobilefacenet", "sface": "sface"}
FUSED = ("mfn", "sface")  # the fused pair, first model first


@dataclass(frozen=True)
class EmbedderIdentity:
    """What templates made by an embedder record: its name and sha256 (fused: the pair and weight)."""

    choice: str
    name: str
    sha256: str


def model_name(choice: str) -> str:
    """The model-store / thresholds name of a choice ("mfn" -> "mobilefacenet", "fusion" -> "fusion")."""
    if choice == FUSION_NAME:
        return FUSION_NAME
    try:
        return MODEL_NAMES[choice]
    except KeyError:
        raise ValueError(f"unknown embedder {choice!r}: choose one of {', '.join(CHOICES)}") from None


def identity(choice: str, store, weight: float | None = None) -> EmbedderIdentity:
    """The identity of a choice without loading any model (for checking galleries and thresholds)."""
    name = model_name(choice)
    if choice != FUSION_NAME:
        return EmbedderIdentity(choice, name, store.entry(name).final.sha256 or "")
    if weight is None:
        raise ValueError("the fused embedder needs its weight (from thresholds.fusion.toml)")
    shas = [store.entry(MODEL_NAMES[c]).final.sha256 or "" for c in FUSED]
    return EmbedderIdentity(choice, name, fusion_sha256(shas[0], shas[1], weight))


def build_embedder(choice: str, store=None, threads: int = 1, flip: bool = True,
                   weight: float | None = None) -> tuple[Embedder | FusedEmbedder, EmbedderIdentity]:
    """The embedder of a choice, from the model store (verified by sha256), and its identity."""
    if store is None:
        from models import ModelStore  # kept out of light commands that never embed

        store = ModelStore()
    ident = identity(choice, store, weight)
    if choice != FUSION_NAME:
        entry = store.entry(ident.name)
        return Embedder(store.path(entry.name), entry, threads=threads, flip=flip), ident
    first, second = (Embedder(store.path(MODEL_NAMES[c]), store.entry(MODEL_NAMES[c]), threads=threads, flip=flip)
                     for c in FUSED)
    return FusedEmbedder(first, second, weight), ident
