"""Path parameters shared by every module."""

from typing import Annotated

from fastapi import Path

ROW_ID_MAX = 2**31 - 1

# A table row id in a URL: positive and within a 32-bit integer column on both SQLite and PostgreSQL,
# so an absurd id is a 422 with a message, never an overflow inside the database driver.
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
