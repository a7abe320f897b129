"""`edge-agent gallery import FILE`: install a gallery package made by `enroll export` at `paths.gallery`.

The package is decrypted and authenticated with this school's gallery key (a tampered package or one of
another school is refused and the installed gallery stays), its templates must come from the embedder this
box runs, an older gallery version is refused unless `--allow-downgrade`, and students erased after the
package was made are removed before the file is swapped in atomically. The running service loads the
gallery at start (restart it, or let the down-sync swap it live).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.config import ConfigError, load_settings
from edge_agent.store import erasure_queue, school_db
from edge_agent.store.school_keys import GALLERY_KEY, KeyError_, read_key
from models import ModelStore

gallery_app = typer.Typer(help="Thư viện khuôn mặt của trường: cài gói từ `enroll export`, mã hoá tệp cũ.",
                          no_args_is_help=True)


def _fail(message: str, as_json: bool, code: int = 1) -> None:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}, ensure_ascii=False))
    else:
        typer.echo(f"Lỗi: {message}", err=True)
    raise typer.Exit(code)


@gallery_app.command("import")
def import_package(
        file: Annotated[Path, typer.Argument(help="gói ảnh mẫu (.pkg) từ `enroll export`")],
        config: Annotated[Path, typer.Option("--config", "-c", help="tệp cấu hình edge.toml")] = Path("edge.toml"),
        allow_downgrade: Annotated[bool, typer.Option(help="cho cài phiên bản cũ hơn")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="kết quả dạng JSON")] = False) -> None:
    """Kiểm tra, giải mã và cài gói ảnh mẫu (có lỗi thì giữ thư viện cũ)."""
    # lazy: FAISS loads only when a gallery command runs
    from edge_agent.recognition.gallery import Gallery, GalleryError
    from edge_agent.recognition.gallery_package import PackageError, read_package_file
    from edge_agent.recognition.gallery_seal import GallerySeal
    try:
        settings = load_settings(config)
        key = read_key(settings.paths.keys_dir, GALLERY_KEY)
        pkg = read_package_file(file, settings.school_code, key)
    except (ConfigError, KeyError_, PackageError) as exc:
        _fail(str(exc), as_json)
    expected = _embedder_sha256()
    if expected and pkg.header["model_sha256"] != expected:
        _fail(f"{file}: mẫu được tạo bằng mô hình {pkg.header['model_name']} "
              f"({pkg.header['model_sha256'][:12]}), máy này chạy {expected[:12]} (embedder mismatch): đăng ký lại "
              "và xuất lại gói", as_json)
    target = settings.paths.gallery_path
    seal = GallerySeal(key, settings.school_code)
    installed = None
    if target.exists():
        try:
            installed = Gallery.load(target, seal=seal, migrate_plain=True).meta.version
        except GalleryError:
            installed = None  # a damaged installed gallery is replaced
    if installed and installed.isdigit() and int(installed) > pkg.gallery_version and not allow_downgrade:
        _fail(f"{file}: phiên bản gói {pkg.gallery_version} cũ hơn bản đã cài {installed} "
              "(dùng --allow-downgrade nếu cố ý quay lại)", as_json)
    gallery = pkg.to_gallery()
    dropped: list[str] = []
    if settings.paths.db_path.exists():
        conn = school_db.connect(settings.paths.db_path)
        try:
            for sid in sorted(erasure_queue.erased_since(conn, pkg.header["created_at"])):
                if gallery.remove(sid):
                    dropped.append(sid)
        finally:
            school_db.close(conn)
    gallery.save(target, seal=seal)  # encrypted at rest with the school's gallery key, mode 0600
    out = {"ok": True, "gallery": str(target), "school": pkg.school, "gallery_version": pkg.gallery_version,
           "previous_version": installed, "students": len(gallery), "templates": gallery.n_templates,
           "model": pkg.header["model_name"], "erased_since_export": dropped}
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        typer.echo(f"Đã cài gói ảnh mẫu phiên bản {pkg.gallery_version}: {len(gallery)} học sinh, "
                   f"{gallery.n_templates} mẫu → {target}")
        if dropped:
            typer.echo(f"Đã bỏ {len(dropped)} học sinh bị xoá dữ liệu sau khi xuất gói.")


def _embedder_sha256() -> str | None:
    try:
        return ModelStore().default("embedder").final.sha256
    except Exception:  # noqa: BLE001 - no model store here: the service checks again at load
        return None


@gallery_app.command("encrypt")
def encrypt(config: Annotated[Path, typer.Option("--config", "-c", help="tệp cấu hình edge.toml")]
            = Path("edge.toml")) -> None:
    """Mã hoá thư viện khuôn mặt cũ (gallery.npz chưa mã hoá) bằng khoá của trường."""
    # lazy: FAISS loads only when a gallery command runs
    from edge_agent.recognition.gallery import Gallery, GalleryError
    from edge_agent.recognition.gallery_seal import GallerySeal, is_sealed
    try:
        settings = load_settings(config)
        seal = GallerySeal(read_key(settings.paths.keys_dir, GALLERY_KEY), settings.school_code)
        target = settings.paths.gallery_path
        if target.is_file() and is_sealed(target.read_bytes()[:64]):
            typer.echo(f"{target} đã được mã hoá; không cần làm gì.")
            return
        gallery = Gallery.load(target, seal=seal, migrate_plain=True)
    except (ConfigError, KeyError_, GalleryError, OSError) as exc:
        _fail(str(exc), False)
    typer.echo(f"Đã mã hoá thư viện khuôn mặt ({len(gallery)} học sinh) → {target}")
