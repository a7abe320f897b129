"""`make demo`: detect and embed the sample photos that ship inside a registry package and say who matches whom.

Uses only images from the `face_recognition` sdist (fetched and verified by the model store) and the
default models, through the same vision stack as recognition and enrolment.
"""

from __future__ import annotations

import itertools
import sys

from rich.console import Console
from rich.table import Table

from edge_agent.recognition.thresholds import load_thresholds
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image
from models import ModelStore


def person_of(name: str) -> str:
    """The person a sample photo shows, from its file name (obama2.jpg -> obama)."""
    return name.split(".")[0].rstrip("0123456789")


def main() -> int:
    console = Console()
    store = ModelStore()
    photos = store.samples("face_recognition")
    analyzer = FaceAnalyzer.from_store(store)
    threshold = load_thresholds().accept
    console.print(f"detector [bold]{store.default('detector').name}[/], embedder "
                  f"[bold]{store.default('embedder').name}[/], match threshold cosine {threshold:.3f}")

    embeddings = {}
    for name, path in photos.items():
        faces = analyzer.analyze(load_image(path))
        if not faces:
            console.print(f"[red]no face found in {name}[/]")
            return 1
        face = faces[0]
        embeddings[name] = face.embedding
        box = ", ".join(f"{v:.0f}" for v in face.detection.box)
        console.print(f"{name:<11} face at ({box}) score {face.detection.score:.2f} "
                      f"quality {face.quality.score:.2f}")

    table = Table(title="who matches whom (cosine similarity)")
    for col in ("photo A", "photo B", "cosine", "verdict", "truth"):
        table.add_column(col)
    wrong = 0
    for a, b in itertools.combinations(embeddings, 2):
        score = float(embeddings[a] @ embeddings[b])
        match = score >= threshold
        same = person_of(a) == person_of(b)
        wrong += match != same
        table.add_row(a, b, f"{score:.3f}", "[green]same person[/]" if match else "different people",
                      "same" if same else "different")
    console.print(table)
    if wrong:
        console.print(f"[red]{wrong} pair(s) decided wrongly[/]")
        return 1
    console.print("[green]every Obama photo matches the others; Biden matches none of them[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
