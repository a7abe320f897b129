"""Verification metrics: 10-fold accuracy, ROC AUC, TAR at a FAR, and the threshold each implies."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def threshold_at_far(impostor: np.ndarray, far: float) -> float:
    """Smallest threshold t with (impostor scores > t) / n <= far."""
    imp = np.sort(np.asarray(impostor, np.float64))[::-1]
    k = int(np.floor(far * len(imp)))
    if k >= len(imp):
        return float(imp[-1])
    return float(imp[k])


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold): share of genuine scores above the threshold that lets `far` impostors through."""
    t = threshold_at_far(impostor, far)
    return float((np.asarray(genuine) > t).mean()), t


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    scores = np.concatenate([genuine, impostor])
    ranks = rankdata(scores)
    n_g, n_i = len(genuine), len(impostor)
    return float((ranks[:n_g].sum() - n_g * (n_g + 1) / 2) / (n_g * n_i))


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold with the best accuracy on these pairs (grid of 0.001 over [-1, 1], as insightface does)."""
    grid = np.arange(-1.0, 1.0, 0.001)
    acc = ((scores[None, :] > grid[:, None]) == labels[None, :]).mean(axis=1)
    return float(grid[int(np.argmax(acc))])


def kfold_accuracy(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> tuple[float, float, list[float]]:
    """Mean and std of the accuracy on each fold with the threshold chosen on the other folds."""
    accs, thresholds = [], []
    for f in np.unique(folds):
        test = folds == f
        t = best_threshold(scores[~test], labels[~test])
        thresholds.append(t)
        accs.append(float(((scores[test] > t) == labels[test]).mean()))
    return float(np.mean(accs)), float(np.std(accs)), thresholds


def verification_report(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray,
                        balanced: np.ndarray | None = None) -> dict:
    """Accuracy on the `balanced` pairs (as many impostors as genuine); AUC and TAR on all pairs."""
    genuine, impostor = scores[labels], scores[~labels]
    sel = balanced if balanced is not None else np.ones(len(scores), bool)
    mean, std, thresholds = kfold_accuracy(scores[sel], labels[sel], folds[sel])
    out = {"pairs_genuine": int(labels.sum()), "pairs_impostor": int((~labels).sum()),
           "accuracy_mean": mean, "accuracy_std": std, "threshold_mean": float(np.mean(thresholds)),
           "auc": roc_auc(genuine, impostor)}
    for far in (1e-2, 1e-3, 1e-4):
        if far * len(impostor) >= 1:  # LFW's 3,000 impostors allow 1e-3 (3 pairs), as usually reported
            tar, t = tar_at_far(genuine, impostor, far)
            out[f"tar_at_far_{far:g}"], out[f"threshold_at_far_{far:g}"] = tar, t
    return out
