"""`python -m models fetch | verify | list | register | samples`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from models.errors import ModelStoreError
from models.store import ModelStore

app = typer.Typer(help="The model store: fetch, convert and verify the face models.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(1)


@app.command()
def fetch(names: Annotated[list[str] | None, typer.Argument(help="models (default: all defaults)")] = None):
    """Download, convert and verify models into MODELS_DIR (safe to run again)."""
    store = ModelStore()
    try:
        for status in store.fetch(names or None):
            out.print(f"[green]ok[/]  {status.entry.name:<16} {status.path}")
    except ModelStoreError as exc:
        _fail(exc)


@app.command()
def verify():
    """Re-check the sha256 of every default and registered model; exit 1 naming any bad one."""
    store = ModelStore()
    bad = 0
    for status in store.verify():
        if status.state == "ok":
            out.print(f"[green]ok[/]      {status.entry.name}")
        else:
            bad += 1
            err.print(f"[red]{status.state:<7}[/] {status.entry.name}: {status.detail} ({status.path})")
    if bad:
        raise typer.Exit(1)


@app.command("list")
def list_models():
    """Name, role, licence and status of every model."""
    store = ModelStore()
    table = Table(title=f"models in {store.root}")
    for col in ("name", "role", "default", "licence", "status", "warning"):
        table.add_column(col)
    for entry in store.entries():
        status = store.status(entry.name)
        table.add_row(entry.name, entry.role, "yes" if entry.default else "", entry.licence,
                      status.state, entry.licence_warning or "")
    out.print(table)
    for entry in store.entries():
        out.print(f"[bold]{entry.name}[/]: {entry.provenance}")
        if entry.data_terms:
            out.print(f"[bold]{entry.name}[/] training data and terms: {entry.data_terms}")


@app.command()
def register(
    name: str,
    file: Path,
    role: Annotated[str, typer.Option(help="detector, embedder or liveness")],
    licence: Annotated[str, typer.Option(help="licence of the weights")],
    non_commercial: Annotated[bool, typer.Option(help="weights are for non-commercial use only")] = False,
    colour: str = "RGB",
    normalisation: str = "(x - 127.5) / 127.5",
    input_spec: str = "Nx3x112x112 float32 aligned face",
    output_spec: str = "NxD embedding",
    default: Annotated[bool, typer.Option(help="make it the default for its role")] = False,
):
    """Register a model file from a local path (e.g. InsightFace buffalo_l's ONNX files)."""
    store = ModelStore()
    try:
        entry = store.register(name, role, file, licence, False if non_commercial else True, colour,
                               normalisation, input_spec, output_spec, make_default=default)
    except (ModelStoreError, ValueError) as exc:
        _fail(exc)
    out.print(f"[green]registered[/] {entry.name} ({entry.role}) sha256 {entry.final.sha256}")
    if entry.licence_warning:
        err.print(f"[yellow]warning:[/] {entry.name}: {entry.licence_warning}")


@app.command()
def samples(set_name: str = "face_recognition"):
    """Fetch the sample photos that ship inside a registry package (used by the demo)."""
    try:
        for name, path in ModelStore().samples(set_name).items():
            out.print(f"[green]ok[/]  {name:<12} {path}")
    except ModelStoreError as exc:
        _fail(exc)
