"""One exception for everything the signature module refuses, with a Vietnamese message and a code."""

from __future__ import annotations


class SignatureFailure(Exception):
    """Signing or verification could not go on; ``str(exc)`` is a Vietnamese message for the user and
    ``code`` a stable machine-readable reason (``wrong_pin``, ``revoked``, ``docmdp_forbids`` ...)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code
