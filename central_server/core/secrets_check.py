"""Refuse to run in production with a secret left at its shipped default.

Every settings object of the server (core, and each module's settings found on `app.state`) is inspected: a field
whose name says it is a secret (secret, pepper, password, ..._key, ..._token) and whose value is still the class
default, or a "change-me" placeholder, is reported by its environment variable. In production
(`CENTRAL_ENVIRONMENT=production`) the server refuses to start; in development it logs a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from .config import Settings

log = logging.getLogger("central_server.secrets")
_SECRET_FIELD = re.compile(r"(secret|pepper|password|passphrase|_key|_token)$", re.IGNORECASE)


class DefaultSecretError(RuntimeError):
    """Raised at start in production; the message names the environment variables to set."""


def _plain(value) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value if isinstance(value, str) else None


def default_secrets(obj: BaseSettings) -> list[str]:
    """Environment variable names of `obj`'s secret fields still at their default or a placeholder."""
    prefix = obj.model_config.get("env_prefix", "") or ""
    found = []
    for name, field in type(obj).model_fields.items():
        if not _SECRET_FIELD.search(name):
            continue
        value = _plain(getattr(obj, name))
        if not value:
            continue  # unset optional credentials are checked where they are used
        if value == _plain(field.default) or value.lower().startswith("change-me"):
            found.append(f"{prefix}{name}".upper())
    return found


def settings_on(state) -> list[BaseSettings]:
    """Every settings object an app keeps on `app.state`, directly or as `<runtime>.settings`."""
    out: list[BaseSettings] = []
    for value in vars(state).get("_state", {}).values():
        inner = getattr(value, "settings", None)
        for candidate in (value, inner):
            if isinstance(candidate, BaseSettings) and not any(candidate is o for o in out):
                out.append(candidate)
    return out


def enforce(settings: Settings, others: Iterable[BaseSettings]) -> list[str]:
    """Raise DefaultSecretError in production when any secret is a default; else warn. Returns the names."""
    names = sorted({n for obj in (settings, *others) for n in default_secrets(obj)})
    if names and settings.environment == "production":
        raise DefaultSecretError("Từ chối khởi động ở môi trường production vì còn bí mật mặc định (default "
                                 f"secret): hãy đặt {', '.join(names)}.")
    if names:
        log.warning("default secrets in use (refused in production): %s", ", ".join(names))
    return names
