"""The evaluation sets of `../shared/datasets`: image lists, identity labels and verification pairs."""

from __future__ import annotations

import csv
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def datasets_dir(arg: str | None = None) -> Path:
    if arg:
        return Path(arg)
    shared = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
    return shared / "datasets"


@dataclass
class PairSet:
    """Pairs of image indices into one cached image list, with labels and 10 folds."""

    name: str
    a: np.ndarray
    b: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    note: str
    balanced: np.ndarray | None = None  # pairs the accuracy figure uses (None: all)


def lfw_images(ds: Path) -> tuple[list[Path], np.ndarray]:
    paths = sorted((ds / "lfw-deepfunneled" / "images").glob("*/*.jpg"))
    return paths, np.array([p.parent.name for p in paths])


def lfw_subset(ds: Path, paths: list[Path], labels: np.ndarray, fraction: float = 1 / 3,
               seed: int = 0) -> tuple[list[Path], np.ndarray]:
    """Every East-Asian LFW image plus the images of a fixed random `fraction` of the other identities:
    a smaller LFW (about 4,500 images) for comparing embedders on a loaded machine."""
    names = sorted(set(labels.tolist()))
    rng = np.random.default_rng(seed)
    keep = set(rng.choice(names, size=int(len(names) * fraction), replace=False).tolist())
    mask = np.isin(labels, sorted(keep)) | ea_lfw_mask(ds, labels)
    return [p for p, k in zip(paths, mask, strict=True) if k], labels[mask]


def lfw_pairs(ds: Path, paths: list[Path]) -> PairSet:
    """The official pairs (those whose two images are both in `paths`, for a subset)."""
    index = {(p.parent.name, int(p.stem.rsplit("_", 1)[1])): i for i, p in enumerate(paths)}
    lines = (ds / "lfw-deepfunneled" / "pairs.txt").read_text().split("\n")
    n_folds, per = (int(x) for x in lines[0].split())
    a, b, same, folds = [], [], [], []
    for k, line in enumerate(lines[1:1 + n_folds * 2 * per]):
        f = line.split()
        keys = [(f[0], int(f[1])), (f[0], int(f[2]))] if len(f) == 3 else [(f[0], int(f[1])), (f[2], int(f[3]))]
        if any(key not in index for key in keys):
            continue
        if len(f) == 3:
            a.append(index[(f[0], int(f[1]))]), b.append(index[(f[0], int(f[2]))]), same.append(True)
        else:
            a.append(index[(f[0], int(f[1]))]), b.append(index[(f[2], int(f[3]))]), same.append(False)
        folds.append(k // (2 * per))
    return PairSet("lfw", np.array(a), np.array(b), np.array(same), np.array(folds),
                   "official pairs.txt, 10 folds x (300 genuine + 300 impostor)")


def all_pairs(name: str, labels: np.ndarray, usable: np.ndarray, note: str, genuine_ok=None,
              seed: int = 0) -> PairSet:
    """Every genuine pair (optionally filtered) and every impostor pair among `usable` images.

    Folds (for the accuracy figure only) are random; the accuracy is computed on all genuine pairs and
    an equal number of random impostor pairs, so that it is balanced like LFW's.
    """
    idx = np.flatnonzero(usable)
    ii, jj = (np.array(x) for x in zip(*itertools.combinations(idx, 2), strict=True))
    same = labels[ii] == labels[jj]
    keep = ~same | (genuine_ok(ii, jj) if genuine_ok else True)
    ii, jj, same = ii[keep], jj[keep], same[keep]
    rng = np.random.default_rng(seed)
    folds = rng.integers(0, 10, len(ii))
    balanced = same.copy()
    impostors = np.flatnonzero(~same)
    balanced[rng.choice(impostors, size=min(len(impostors), int(same.sum())), replace=False)] = True
    return PairSet(name, ii, jj, same, folds, note, balanced)


def ea_lfw_mask(ds: Path, labels: np.ndarray) -> np.ndarray:
    with open(ds / "ea-lfw-asian-subset" / "identities.csv", newline="") as fh:
        names = {row["identity"] for row in csv.DictReader(fh)}
    return np.isin(labels, sorted(names))


def nuaa_images(ds: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    paths = sorted((ds / "ea-nuaa-webcam-15").glob("nuaa_*/*.jpg"))
    sessions = np.array([int(p.stem.split("_")[3]) for p in paths])
    return paths, np.array([p.parent.name for p in paths]), sessions


def kpop_images(ds: Path) -> tuple[list[Path], np.ndarray]:
    paths = sorted(p for p in (ds / "ea-kpop-idols-15").glob("*/*") if p.suffix.lower() in (".jpg", ".png"))
    return paths, np.array([p.parent.name for p in paths])
