"""Change stamps: rows of `ioc_watermarks` that move whenever the tiles or the alerts change, in the same
transaction, so that readers may reuse what they computed from an unchanged stamp."""

from __future__ import annotations

from sqlalchemy.orm import Session

from central_server.core.db import utcnow

from .tables import IocWatermark

TILES_STAMP, ALERTS_STAMP = "stamp:tiles", "stamp:alerts"


def touch(session: Session, name: str) -> None:
    row = session.get(IocWatermark, name)
    if row is None:
        session.add(IocWatermark(name=name, last_id=0, gaps={}, updated_at=utcnow()))
    else:
        row.updated_at = utcnow()
