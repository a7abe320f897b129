"""Open-set identification on LFW, as a school camera meets it: enrolled students and strangers.

Gallery = one photo of each enrolled identity. Mated probes = the other photos of enrolled people;
non-mated probes (strangers) = people never enrolled. A probe is accepted as the top identity when its
score passes `accept` and beats the best other identity by `margin`. With voting, a "track" is 5 photos
of one person and the per-identity score is the median over the 5 frames (LFW photos of one person
come from different days, so they are less alike than video frames: voting is simulated, not measured).
Mode `set` decides the same 5-photo tracks by set-to-set matching (edge_agent/recognition/track_decision.py): the
normalised mean of the 5 embeddings must pass `accept` and `margin`, and the per-photo median vote must
name the same identity (at or above `review` when given).
"""

from __future__ import annotations

import numpy as np

TRACK_LEN = 5


def split_lfw(labels: np.ndarray, found: np.ndarray, seed: int = 0):
    """(gallery_idx, enrolled ids, mated probe idx, stranger probe idx, stranger-track groups).

    A quarter of the identities with 5+ usable photos, drawn at random, are kept as strangers (so that
    stranger tracks of 5 photos exist); the other identities with 2+ photos may be
    enrolled; identities with one photo are strangers.
    """
    rng = np.random.default_rng(seed)
    by_id: dict[str, list[int]] = {}
    for i in np.flatnonzero(found):
        by_id.setdefault(labels[i], []).append(int(i))
    names = sorted(by_id)
    big = [n for n in names if len(by_id[n]) >= TRACK_LEN]
    strangers_big = set(rng.choice(big, size=len(big) // 4, replace=False).tolist())
    enrollable = [n for n in names if len(by_id[n]) >= 2 and n not in strangers_big]
    gallery = np.array([by_id[n][0] for n in enrollable])
    mated = {n: by_id[n][1:] for n in enrollable}
    stranger_single = [by_id[n][0] for n in names if len(by_id[n]) == 1]
    stranger_tracks = []
    for n in sorted(strangers_big):
        idx = by_id[n]
        for k in range(min(4, len(idx) // TRACK_LEN)):
            stranger_tracks.append(idx[k * TRACK_LEN:(k + 1) * TRACK_LEN])
    stranger_frames = stranger_single + [i for n in sorted(strangers_big) for i in by_id[n]]
    return enrollable, gallery, mated, np.array(stranger_frames), stranger_tracks


def decide(scores: np.ndarray, accept: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(accepted mask, top column) for rows of identity scores."""
    if scores.shape[1] == 1:
        top = np.zeros(len(scores), int)
        return scores[:, 0] >= accept, top
    part = np.partition(-scores, 1, axis=1)
    best, second = -part[:, 0], -part[:, 1]
    top = scores.argmax(axis=1)
    return (best >= accept) & (best - second >= margin), top


def fnir_at_fpir(mated_scores, mated_truth, stranger_scores, fpir: float) -> tuple[float, float]:
    """FNIR (mated probe not returned as its own identity above t) where strangers pass at rate fpir."""
    top_s = np.sort(stranger_scores.max(axis=1))[::-1]
    k = int(np.floor(fpir * len(top_s)))
    t = float(top_s[min(k, len(top_s) - 1)])
    top = mated_scores.argmax(axis=1)
    hit = (top == mated_truth) & (mated_scores.max(axis=1) > t)
    return float(1 - hit.mean()), t


def _set_decide(track_sims_mean: np.ndarray, track_sims_vote: np.ndarray, accept: float, margin: float,
                review: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(accepted, top) of set-to-set decisions: the mean embedding decides, the median vote must agree."""
    ok, top = decide(track_sims_mean, accept, margin)
    vote_top = track_sims_vote.argmax(axis=1)
    agree = vote_top == top
    if review is not None:
        agree &= track_sims_vote.max(axis=1) >= review
    return ok & agree, top


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def evaluate(emb: np.ndarray, labels: np.ndarray, found: np.ndarray, accept: float, margin: float,
             sizes=(30, 50, 300, 1500), repeats=None, seed: int = 0, review: float | None = None) -> dict:
    enrollable, gallery, mated, stranger_frames, stranger_tracks = split_lfw(labels, found, seed)
    n_all = len(enrollable)
    rng = np.random.default_rng(seed + 1)
    repeats = repeats or {30: 40, 50: 30, 300: 5, 1500: 2}
    # similarities of every usable photo to every enrollable identity's gallery photo
    sims = emb @ emb[gallery].T
    out: dict = {"enrollable_identities": n_all, "stranger_photos": int(len(stranger_frames)),
                 "stranger_tracks": len(stranger_tracks)}
    mated_all = np.array([i for n in enrollable for i in mated[n]])
    truth_all = np.array([j for j, n in enumerate(enrollable) for _ in mated[n]])
    for fpir in (1e-2, 1e-3):
        fnir, t = fnir_at_fpir(sims[mated_all], truth_all, sims[stranger_frames], fpir)
        out[f"full_gallery_fnir_at_fpir_{fpir:g}"], out[f"full_gallery_threshold_at_fpir_{fpir:g}"] = fnir, t
    rows = []
    for size in sizes:
        if size > n_all:
            continue
        # strangers, strangers accepted, mated, wrong, right
        acc = {"single": np.zeros(5), "vote": np.zeros(5), "set": np.zeros(5)}
        for _ in range(repeats.get(size, 1)):
            cols = rng.choice(n_all, size=size, replace=False)
            col_of = {int(c): j for j, c in enumerate(cols)}
            s_frames = sims[stranger_frames][:, cols]
            ok, _ = decide(s_frames, accept, margin)
            acc["single"][:2] += (len(ok), ok.sum())
            probes = np.array([i for c in cols for i in mated[enrollable[c]]])
            truth = np.array([col_of[int(c)] for c in cols for _ in mated[enrollable[c]]])
            ok, top = decide(sims[probes][:, cols], accept, margin)
            acc["single"][2:] += (len(ok), (ok & (top != truth)).sum(), (ok & (top == truth)).sum())
            # voting: 5-photo tracks
            s_tracks = np.stack([np.median(sims[t][:, cols], axis=0) for t in stranger_tracks])
            ok, _ = decide(s_tracks, accept, margin)
            acc["vote"][:2] += (len(ok), ok.sum())
            g_emb = emb[gallery[cols]]
            s_means = _unit(np.stack([emb[t].mean(axis=0) for t in stranger_tracks])) @ g_emb.T
            ok, _ = _set_decide(s_means, s_tracks, accept, margin, review)
            acc["set"][:2] += (len(ok), ok.sum())
            m_tracks, m_truth, m_means = [], [], []
            for c in cols:
                photos = mated[enrollable[c]]
                for k in range(min(4, len(photos) // TRACK_LEN)):
                    chunk = photos[k * TRACK_LEN:(k + 1) * TRACK_LEN]
                    m_tracks.append(np.median(sims[chunk][:, cols], axis=0))
                    m_means.append(_unit(emb[chunk].mean(axis=0)) @ g_emb.T)
                    m_truth.append(col_of[int(c)])
            if m_tracks:
                ok, top = decide(np.stack(m_tracks), accept, margin)
                truth = np.array(m_truth)
                acc["vote"][2:] += (len(ok), (ok & (top != truth)).sum(), (ok & (top == truth)).sum())
                ok, top = _set_decide(np.stack(m_means), np.stack(m_tracks), accept, margin, review)
                acc["set"][2:] += (len(ok), (ok & (top != truth)).sum(), (ok & (top == truth)).sum())
        for mode, a in acc.items():
            rows.append({"gallery": size, "mode": mode, "strangers": int(a[0]), "fpir": a[1] / max(a[0], 1),
                         "mated": int(a[2]), "wrong_student": a[3] / max(a[2], 1),
                         "fnir": 1 - a[4] / max(a[2], 1)})
    out["by_gallery_size"] = rows
    return out
