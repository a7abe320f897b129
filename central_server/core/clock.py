"""The province's calendar day. Servers keep UTC clocks; a school day is the date in the province's time zone
(Asia/Ho_Chi_Minh), which is already tomorrow from 17:00 UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def local_today(timezone: str = DEFAULT_TIMEZONE) -> dt.date:
    """Today's date in `timezone` (the central server's `settings.timezone`)."""
    return dt.datetime.now(dt.UTC).astimezone(ZoneInfo(timezone)).date()
