"""A local remote-signing service speaking the Cloud Signature Consortium API v1 (the subset pyHanko's
CSCSigner uses), for the tests. It holds real RSA keys; the central server only ever sends hashes.

SCAL 2: ``credentials/authorize`` checks the PIN and returns a SAD bound to the exact hashes, and
``signatures/signHash`` signs only those hashes with that SAD (once).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from fastapi import FastAPI
from fastapi.responses import JSONResponse

SHA256_RSA = "1.2.840.113549.1.1.11"
SHA256 = "2.16.840.1.101.3.4.2.1"


@dataclass
class Credential:
    key: rsa.RSAPrivateKey
    certs: list  # signer first, then the chain (cryptography certificates)
    pin: str
    sads: dict[str, list[str]] = field(default_factory=dict)


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def make_csc_app(credentials: dict[str, Credential]) -> FastAPI:
    app = FastAPI()

    @app.post("/csc/v1/credentials/info")
    def info(body: dict):
        cred = credentials.get(body.get("credentialID", ""))
        if cred is None:
            return _error(400, "invalid_request", "Invalid parameter credentialID")
        return {"key": {"status": "enabled", "algo": [SHA256_RSA], "len": cred.key.key_size},
                "cert": {"status": "valid", "certificates": [
                    base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in cred.certs]},
                "authMode": "explicit", "SCAL": "2", "multisign": 1}

    @app.post("/csc/v1/credentials/authorize")
    def authorize(body: dict):
        cred = credentials.get(body.get("credentialID", ""))
        if cred is None:
            return _error(400, "invalid_request", "Invalid parameter credentialID")
        if body.get("PIN") != cred.pin:
            return _error(400, "invalid_pin", "The PIN is invalid")
        hashes_ = body.get("hash") or []
        if not hashes_ or len(hashes_) != body.get("numSignatures"):
            return _error(400, "invalid_request", "SCAL 2 needs the hashes to authorize")
        sad = secrets.token_urlsafe(24)
        cred.sads[sad] = list(hashes_)
        return {"SAD": sad, "expiresIn": 300}

    @app.post("/csc/v1/signatures/signHash")
    def sign_hash(body: dict):
        cred = credentials.get(body.get("credentialID", ""))
        if cred is None:
            return _error(400, "invalid_request", "Invalid parameter credentialID")
        allowed = cred.sads.pop(body.get("SAD", ""), None)
        if allowed is None or allowed != body.get("hash"):
            return _error(400, "invalid_request", "SAD is invalid or not bound to these hashes")
        if body.get("signAlgo") != SHA256_RSA or body.get("hashAlgo", SHA256) != SHA256:
            return _error(400, "invalid_request", "unsupported signAlgo/hashAlgo")
        sigs = [cred.key.sign(base64.b64decode(h), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
                for h in allowed]
        return {"signatures": [base64.b64encode(s).decode() for s in sigs]}

    return app
