"""The exceptions of the signature module: every refusal has a Vietnamese message and a code."""

from __future__ import annotations


class SignatureFailure(Exception):
    """Signing or verification could not go on; ``str(exc)`` is a Vietnamese message for the user and
    ``code`` a stable machine-readable reason (``wrong_pin``, ``revoked``, ``docmdp_forbids`` ...)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class WorkflowError(SignatureFailure):
    """A step out of order or by the wrong person (HTTP 409 / 403)."""
