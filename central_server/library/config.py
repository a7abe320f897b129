"""Typed settings of the library module (environment prefix CENTRAL_LIBRARY_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .storage import BlobStore, LocalBlobStore, S3BlobStore


class LibrarySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_LIBRARY_", env_file=".env", extra="ignore")

    storage: Literal["local", "s3"] = "local"
    storage_dir: Path = Path("./var/library")
    s3_bucket: str = "soctrang-library"
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"

    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)  # 1 GiB (videos)
    max_unzipped_bytes: int = Field(default=2 * 1024 * 1024 * 1024, gt=0)
    max_zip_entries: int = Field(default=20_000, gt=0)
    max_zip_ratio: int = Field(default=200, gt=1)  # uncompressed/compressed, per archive
    max_extracted_chars: int = Field(default=400_000, gt=0)
    ingest_worker: bool = True  # run the background ingest worker inside the web process

    repository_name: str = "Kho học liệu số ngành Giáo dục Sóc Trăng (TP Cần Thơ)"
    repository_id: str = "hoclieu.soctrang.edu.vn"  # the OAI identifier namespace
    base_url: str = "http://localhost:8000"
    admin_email: str = "thuvienso@soctrang.edu.vn"
    oai_page_size: int = Field(default=100, gt=0, le=1000)
    oai_token_secret: str = "change-me-library-oai"


@lru_cache(maxsize=1)
def get_library_settings() -> LibrarySettings:
    return LibrarySettings()


def make_store(settings: LibrarySettings) -> BlobStore:
    if settings.storage == "s3":
        return S3BlobStore(
            settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key, region=settings.s3_region, spool=settings.storage_dir,
        )
    return LocalBlobStore(settings.storage_dir / "blobs")
