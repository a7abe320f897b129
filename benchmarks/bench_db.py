"""The database a central-server benchmark builds into: migrated to the head, every module's tables mapped."""

from __future__ import annotations

from sqlalchemy.engine import Engine


def migrated_engine(url: str) -> Engine:
    """An engine on `url` after `upgrade`, with cheap password hashing for the benchmark's generated users
    (argon2 at its smallest: building thousands of accounts must not take minutes; never a production setting)."""
    from central_server.app import metadata
    from central_server.core import passwords
    from central_server.core.config import Settings
    from central_server.core.db import make_engine
    from central_server.core.migrate import upgrade

    passwords.configure(Settings(_env_file=None, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1))
    metadata()  # every module's tables mapped
    upgrade(url)
    return make_engine(url)
