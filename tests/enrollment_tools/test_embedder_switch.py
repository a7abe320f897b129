"""A school that switches its embedder (recognition.embedder = mfn | sface | fusion) enrols again from its photos:
templates of each embedder are kept apart, counted apart, and only the school's own embedder's are exported."""

from __future__ import annotations

from tests.enrollment_tools.conftest import lfw, put


def _shas(school) -> dict[str, int]:
    with school.db() as conn:
        return {r[0]: r[1] for r in conn.execute(
            "SELECT model_sha256, count(*) FROM face_templates GROUP BY model_sha256")}


def test_switching_to_sface_re_embeds_from_the_photos_and_never_mixes(school, datasets, model_store, tmp_path):
    from edge_agent.vision.embedder_choice import identity

    model_store.fetch(["sface"])  # not a default model: fetched here (a no-op once verified)
    mfn, sface = identity("mfn", model_store).sha256, identity("sface", model_store).sha256
    school.add_students()
    photos = tmp_path / "photos"
    put(photos / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2))
    put(photos / "094209000102", *lfw(datasets, "Junichiro_Koizumi", 1, 2))
    school.run("photos", str(photos), "--school", school.code, "--workers", "1")
    n = _shas(school).get(mfn, 0)
    assert n >= 3 and set(_shas(school)) == {mfn}  # the gates may refuse a photo; both students are enrolled

    with school.config.open("a", encoding="utf-8") as fh:
        fh.write('[recognition]\nembedder = "sface"\n')
    _, status = school.run("status")
    assert (status["templates"], status["templates_other_model"]) == (0, n)  # the staff see what is missing
    school.run("photos", str(photos), "--school", school.code, "--workers", "1")
    assert _shas(school) == {mfn: n, sface: n}  # the same photos, embedded again by SFace
    _, status = school.run("status")
    assert (status["templates"], status["templates_other_model"]) == (n, n)

    pkg = tmp_path / "gallery.pkg"
    school.run("export", "--school", school.code, "--out", str(pkg))
    from edge_agent.recognition.gallery_package import read_package_file  # the package carries SFace templates only
    from edge_agent.store.school_keys import GALLERY_KEY, read_key

    package = read_package_file(pkg, school.code, read_key(school.data / "keys", GALLERY_KEY))
    assert package.header["model_name"] == "sface" and package.header["model_sha256"] == sface
    assert package.header["dim"] == 128
