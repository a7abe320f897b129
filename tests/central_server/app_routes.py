"""Every route of the central app with its full path, for the tests that walk all of them (authorisation matrix,
hostile inputs). FastAPI 0.16x nests included routers (`effective_candidates`)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.routing import APIRoute


def flat_routes(routes) -> Iterator[tuple[str, APIRoute]]:
    """(full path, APIRoute) of every route below `routes` (e.g. `app.routes`)."""
    for r in routes:
        if hasattr(r, "effective_candidates"):
            yield from flat_routes(r.effective_candidates())
        elif isinstance(getattr(r, "original_route", None), APIRoute):
            yield r.path, r.original_route
        elif isinstance(r, APIRoute):
            yield r.path, r
