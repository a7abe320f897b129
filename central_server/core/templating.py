"""The shared Jinja2 environment (templates in central_server/templates/, one folder per module)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.templating import Jinja2Templates

from .csrf import install_template_globals

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%".replace(".", ",")


def _vn_date(value: dt.date | dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%d/%m/%Y")


templates.env.filters["pct"] = _pct
templates.env.filters["vndate"] = _vn_date
# Modules add their own navigation entries: (url, label, roles or None for everyone).
templates.env.globals["nav_items"] = []
# {{ csrf_field() }} in every POST form, {{ csrf_token() }} for scripts (see core/csrf.py).
install_template_globals(templates.env)


def add_nav(url: str, label: str, roles: tuple[str, ...] | None = None) -> None:
    items = templates.env.globals["nav_items"]
    if not any(i[0] == url for i in items):
        items.append((url, label, roles))
