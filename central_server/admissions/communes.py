"""The province's communes and wards (administrative units after the 1 July 2025 merger), as data.

`data/communes_92.json` lists the units of Thành phố Cần Thơ (province code 92: former Cần Thơ, Hậu Giang and Sóc
Trăng); its `_source` field says where the list comes from. The registration form offers them as a list.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from central_server.core.names import collation_key

DATA = Path(__file__).parent / "data" / "communes_92.json"


@cache
def communes() -> tuple[tuple[str, str], ...]:
    """((code, name), ...) in Vietnamese alphabetical order of the name without its "Xã"/"Phường" prefix."""
    doc = json.loads(DATA.read_text(encoding="utf-8"))
    units = [(u["code"], u["name"]) for u in doc["units"]]
    return tuple(sorted(units, key=lambda u: collation_key(u[1].split(" ", 1)[-1])))


def commune_name(code: str) -> str:
    return dict(communes()).get(code, code)
