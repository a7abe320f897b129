"""Gallery: FAISS search over real embeddings, roster-first, removal, atomic swap, gallery files."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge_agent.recognition.gallery import Gallery, GalleryError, GalleryMeta

pytestmark = pytest.mark.datasets


@pytest.fixture()
def gallery(enrolment, gallery_meta) -> Gallery:
    embs, ids = enrolment
    return Gallery(embs, ids, gallery_meta)


def brute_force(gallery_embs, ids, query, allowed=None):
    best: dict[str, float] = {}
    for e, sid in zip(gallery_embs, ids, strict=True):
        if allowed is None or sid in allowed:
            best[sid] = max(best.get(sid, -2.0), float(e @ query))
    return sorted(best.items(), key=lambda kv: -kv[1])


def test_several_templates_per_student(gallery, enrolment):
    embs, ids = enrolment
    assert gallery.n_templates == len(embs) > len(gallery) == len(set(ids))
    assert set(gallery.student_ids) == set(ids)


def test_probe_from_another_session_finds_its_student(gallery, probes):
    for subject, embs in probes.items():
        for row in gallery.search(embs, top=2):
            assert row[0].student_id == f"S{subject}"
            assert row[0].score > row[1].score


def test_search_equals_brute_force_top_two_distinct_students(gallery, enrolment, probes):
    g_embs, ids = enrolment
    queries = np.concatenate(list(probes.values()))
    for q, row in zip(queries, gallery.search(queries, top=2), strict=True):
        expect = brute_force(g_embs, ids, q)[:2]
        assert [c.student_id for c in row] == [sid for sid, _ in expect]
        assert [c.score for c in row] == pytest.approx([s for _, s in expect], abs=1e-5)


def test_roster_search_only_returns_roster_students(gallery, enrolment, probes):
    g_embs, ids = enrolment
    roster = {"S0004", "S0006", "S0007", "NOT-ENROLLED"}
    q = probes["0001"]  # S0001 is not on this roster
    for qi, row in zip(q, gallery.search(q, roster=roster, top=3), strict=True):
        assert {c.student_id for c in row} <= roster
        assert "S0001" not in {c.student_id for c in row}
        expect = brute_force(g_embs, ids, qi, allowed=roster)[:3]
        assert [c.student_id for c in row] == [sid for sid, _ in expect]
    # an empty roster finds nobody, rather than everybody
    assert gallery.search(q, roster=set()) == [[] for _ in q]


def test_scores_for_is_best_template_score(gallery, enrolment, probes):
    g_embs, ids = enrolment
    q = probes["0005"]
    scores = gallery.scores_for(q, ["S0005", "S0009", "nobody"])
    assert set(scores) == {"S0005", "S0009"}
    rows = [i for i, s in enumerate(ids) if s == "S0009"]
    assert scores["S0009"] == pytest.approx((q @ g_embs[rows].T).max(axis=1), abs=1e-6)
    assert np.all(scores["S0005"] > scores["S0009"])


def test_remove_is_effective_immediately(gallery, probes):
    q = probes["0004"]
    assert gallery.search(q)[0][0].student_id == "S0004"
    removed = gallery.remove("S0004")
    assert removed > 0
    assert "S0004" not in gallery
    for row in gallery.search(q, top=5):
        assert "S0004" not in {c.student_id for c in row}
    assert "S0004" not in gallery.scores_for(q, ["S0004"])
    assert gallery.remove("S0004") == 0


def test_remove_while_searching_from_another_thread(gallery, probes):
    q = probes["0006"]
    stop = threading.Event()
    errors: list[BaseException] = []
    after_removal: list[set[str]] = []
    removed = threading.Event()

    def searcher():
        try:
            while not stop.is_set():
                was_removed = removed.is_set()
                ids = {c.student_id for row in gallery.search(q, top=3) for c in row}
                if was_removed:
                    after_removal.append(ids)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(2)]
    for t in threads:
        t.start()
    gallery.remove("S0006")
    removed.set()
    while len(after_removal) < 20 and not errors:
        pass
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert after_removal and all("S0006" not in ids for ids in after_removal)


def test_swap_is_atomic_while_recognition_runs(enrolment, probes, gallery_meta):
    embs, ids = enrolment
    ids = np.asarray(ids)
    old_ids = {"S0001", "S0004", "S0005"}
    new_ids = {"S0006", "S0007", "S0009"}
    old = Gallery(embs[np.isin(ids, list(old_ids))], ids[np.isin(ids, list(old_ids))].tolist(), gallery_meta)
    new = Gallery(embs[np.isin(ids, list(new_ids))], ids[np.isin(ids, list(new_ids))].tolist(), gallery_meta)
    live = Gallery(old._snap.embeddings, old._snap.student_ids.tolist(), gallery_meta)
    q = np.concatenate(list(probes.values()))
    seen: list[set[str]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher():
        try:
            while not stop.is_set():
                rows = live.search(q, top=3)
                seen.append({c.student_id for row in rows for c in row})
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    t = threading.Thread(target=searcher)
    t.start()
    for i in range(200):
        live.swap(new if i % 2 == 0 else old)
    live.swap(new)
    stop.set()
    t.join()
    assert not errors
    # every search saw exactly one whole gallery: never a mix of old and new templates
    assert seen and all(s <= old_ids or s <= new_ids for s in seen)
    assert {c.student_id for row in live.search(q, top=3) for c in row} == new_ids


def test_swap_refuses_other_dimension(gallery, gallery_meta):
    other = Gallery(np.eye(4, dtype=np.float32), ["a", "b", "c", "d"], gallery_meta)
    with pytest.raises(GalleryError, match="dimension"):
        gallery.swap(other)


def test_save_load_round_trip_holds_no_photos(gallery, probes, tmp_path, gallery_meta):
    path = gallery.save(tmp_path / "g" / "school.npz")
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["embeddings", "meta", "student_ids"]
        assert data["embeddings"].shape == (gallery.n_templates, gallery.dim)
    loaded = Gallery.load(path, expect_model_sha256=gallery_meta.model_sha256)
    assert loaded.meta == gallery_meta
    q = np.concatenate(list(probes.values()))
    assert loaded.search(q, top=3) == gallery.search(q, top=3)
    assert [p.name for p in path.parent.iterdir()] == ["school.npz"]  # no temporary file left


def test_load_refuses_gallery_of_another_model(gallery, tmp_path):
    path = gallery.save(tmp_path / "g.npz")
    with pytest.raises(GalleryError, match="re-export"):
        Gallery.load(path, expect_model_sha256="0" * 64)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_load_corrupt_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(GalleryError, match="bad.npz"):
        Gallery.load(path)


def test_load_missing_or_foreign_npz(tmp_path, gallery):
    with pytest.raises(GalleryError, match="not found"):
        Gallery.load(tmp_path / "missing.npz")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(GalleryError, match="not a gallery file"):
        Gallery.load(foreign)


def test_save_failure_keeps_previous_file(gallery, tmp_path, monkeypatch):
    path = gallery.save(tmp_path / "g.npz")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        gallery.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.npz"]


def test_bad_templates_are_refused(gallery_meta, enrolment):
    embs, ids = enrolment
    with pytest.raises(GalleryError, match="not L2-normalised"):
        Gallery(embs * 2, ids, gallery_meta)
    with pytest.raises(GalleryError, match="student ids"):
        Gallery(embs, ids[:-1], gallery_meta)
    bad = embs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(GalleryError, match="NaN"):
        Gallery(bad, ids, gallery_meta)
    with pytest.raises(GalleryError, match="query"):
        Gallery(embs, ids, gallery_meta).search(np.ones((1, 3), np.float32))


def test_empty_gallery_finds_nobody(gallery_meta, probes):
    empty = Gallery(np.zeros((0, 192), np.float32), [], gallery_meta)
    assert empty.search(probes["0001"]) == [[] for _ in probes["0001"]]
    assert len(empty) == 0


def test_meta_round_trip_values(tmp_path, enrolment):
    embs, ids = enrolment
    meta = GalleryMeta("mobilefacenet", "ab" * 32, "2025-09-01T07:00")
    loaded = Gallery.load(Gallery(embs, ids, meta).save(tmp_path / "x.npz"))
    assert loaded.meta == meta


def test_load_bare_array_is_refused(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.zeros((2, 192), np.float32))
    with pytest.raises(GalleryError, match="not a gallery file"):
        Gallery.load(path)
