"""Opening a gallery that the down-sync fetched: a sealed package of `enroll export` (the central server only
relays it) or a plain gallery file. The down-sync (`edge_agent.sync.downsync`) is handed an opener, so the sync
layer moves bytes and the recognition layer alone knows what a gallery is."""

from __future__ import annotations

from edge_agent.recognition.gallery import Gallery, GalleryError
from edge_agent.recognition.gallery_package import MAGIC, PackageError, read_package


class GalleryOpener:
    """`opener(data, path)`: the downloaded bytes `data`, also written at `path`, as a `Gallery`."""

    # a package that fails with one of these will not get better by fetching it again
    permanent_errors: tuple[type[Exception], ...] = (GalleryError, PackageError)

    def __init__(self, school: str, gallery_key: bytes | None = None, expect_model_sha256: str | None = None):
        self.school = school
        self.gallery_key = gallery_key
        self.expect_model_sha256 = expect_model_sha256

    def __call__(self, data: bytes, path: str) -> Gallery:
        if not data.startswith(MAGIC):
            return Gallery.load(path, expect_model_sha256=self.expect_model_sha256)
        if self.gallery_key is None:
            raise GalleryError("a sealed gallery package arrived but this agent has no gallery key")
        package = read_package(data, self.school, self.gallery_key)
        if self.expect_model_sha256 and package.header["model_sha256"] != self.expect_model_sha256:
            raise GalleryError("gallery package was made with another embedder than the one this agent runs")
        return package.to_gallery()
