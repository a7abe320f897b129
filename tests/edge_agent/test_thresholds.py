"""The calibrated thresholds file: typed, ordered, and saying what each value assumes."""

from __future__ import annotations

import pytest

from edge_agent.recognition.thresholds import ThresholdsError, load_thresholds


def test_shipped_thresholds_are_consistent(model_store):
    th = load_thresholds()
    assert -1 < th.review <= th.accept <= th.strict < 1
    assert th.unknown == th.review and th.strict_whole_school == th.strict
    assert 0 <= th.margin < 0.3
    assert th.review < th.duplicate < 1
    for info in (th.accept_info, th.review_info, th.strict_info, th.duplicate_info):
        assert info.far is not None and 0 < info.far <= 0.01 and info.gallery_size and info.basis
    assert th.accept_info.gallery_size < th.strict_info.gallery_size
    # calibrated for the embedder the store serves by default
    assert th.embedder_sha256 == model_store.default("embedder").final.sha256


def test_recognizer_reads_them():
    from edge_agent.recognition.recognizer import DecisionThresholds

    d = DecisionThresholds.from_calibration(load_thresholds())
    th = load_thresholds()
    assert (d.accept, d.review, d.margin, d.strict) == (th.accept, th.review, th.margin, th.strict)


@pytest.mark.parametrize("text, needle", [
    ("not = [toml", "cannot read"),
    ('calibrated_on = "x"\n', "invalid"),
])
def test_bad_file_is_a_clear_error(tmp_path, text, needle):
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdsError, match=needle):
        load_thresholds(path)


def test_wrong_order_is_refused(tmp_path):
    src = load_thresholds()
    text = (tmp_path / "t.toml")
    body = [f'calibrated_on = "{src.calibrated_on}"', f'embedder = "{src.embedder}"',
            f'embedder_sha256 = "{src.embedder_sha256}"']
    for name, value in (("accept", 0.3), ("review", 0.5), ("margin", 0.05), ("strict", 0.6), ("duplicate", 0.6)):
        body += [f"[{name}]", f"value = {value}"]
    text.write_text("\n".join(body) + "\n", encoding="utf-8")
    with pytest.raises(ThresholdsError, match="review <= accept"):
        load_thresholds(text)
