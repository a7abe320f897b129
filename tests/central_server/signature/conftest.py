"""The signature suite's real PKI, started once per session: the internal CA (root + school intermediate),
its CRL / OCSP / RFC 3161 endpoints served over HTTP by the module's own router, a SoftHSM2 token with a
teacher key generated on it, a local CSC remote-signing service, and poppler's `pdfsig` with an NSS
database that trusts the pilot root."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sig_csc_server import Credential, make_csc_app

from central_server.signature.internal_ca import InternalCA, Issued
from central_server.signature.routes_pki import make_pki_router
from central_server.signature.signers import Pkcs11Source, Pkcs12Source, RemoteSource
from central_server.signature.tsa import LocalTSA

SOFTHSM_LIB = "/usr/lib/softhsm/libsofthsm2.so"
P12_PASSWORD = "Mk-p12-2025"
TOKEN_PIN = "246810"
REMOTE_PIN = "135790"


def serve(app: FastAPI):
    """Run `app` with uvicorn on a free local port in a daemon thread; returns (base_url, server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level=os.environ.get("SIG_TEST_LOG", "warning"), lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test HTTP server did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


@dataclass
class Pki:
    ca: InternalCA
    base: str  # PKI base URL (CRL / OCSP / CA certs / TSA)
    tsa_url: str
    school_ca: str
    teacher: Issued
    principal: Issued
    school: Issued
    tmp: Path

    @property
    def roots(self):
        return [self.ca.root()]

    def p12(self, issued: Issued, password: str = P12_PASSWORD) -> Pkcs12Source:
        return Pkcs12Source(issued.pkcs12(password), password)

    def new_teacher(self, name: str, **kw) -> Issued:
        return self.ca.issue(self.school_ca, "teacher", name, org="Trường THPT Hoàng Diệu", title="Giáo viên", **kw)


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    holder: dict = {}
    app = FastAPI()
    app.include_router(make_pki_router(lambda _r: holder.get("ca"), lambda _r: holder.get("tsa")), prefix="/pki")
    url, server = serve(app)
    base = f"{url}/pki"
    ca = InternalCA(tmp / "ca", "ca-passphrase-test", base)
    ca.init_root()
    school_ca = "school-HD"
    ca.add_school_ca("HD", "Trường THPT Hoàng Diệu")
    tsa_cert = ca.issue("root", "tsa", "Dịch vụ cấp dấu thời gian thí điểm", org="Sở GD&ĐT")
    holder["ca"] = ca
    holder["tsa"] = LocalTSA(tsa_cert.cert, tsa_cert.key, tsa_cert.chain)
    teacher = ca.issue(school_ca, "teacher", "Nguyễn Thị Hoa", org="Trường THPT Hoàng Diệu", title="Giáo viên")
    principal = ca.issue(school_ca, "teacher", "Trần Văn Bình", org="Trường THPT Hoàng Diệu", title="Hiệu trưởng")
    school = ca.issue(school_ca, "school", "Trường THPT Hoàng Diệu", org="Trường THPT Hoàng Diệu")
    yield Pki(ca, base, f"{base}/tsa", school_ca, teacher, principal, school, tmp)
    server.should_exit = True


@pytest.fixture(scope="session")
def softhsm(pki, tmp_path_factory) -> Pkcs11Source:
    """A SoftHSM2 token whose RSA key was generated on the token; only the certificate is written to it."""
    if not Path(SOFTHSM_LIB).exists() or shutil.which("softhsm2-util") is None:
        pytest.fail("SoftHSM2 is not installed: apt-get install softhsm2 opensc")
    import pkcs11
    from asn1crypto import keys
    from cryptography.hazmat.primitives import serialization
    from pkcs11.util.rsa import encode_rsa_public_key

    d = tmp_path_factory.mktemp("softhsm")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "gv-token", "--so-pin", "11223344",
                    "--pin", TOKEN_PIN], check=True, capture_output=True)
    token = pkcs11.lib(SOFTHSM_LIB).get_token(token_label="gv-token")
    with token.open(rw=True, user_pin=TOKEN_PIN) as session:
        pub, _priv = session.generate_keypair(pkcs11.KeyType.RSA, 2048, label="gv-key", id=b"\x01", store=True)
        spki = keys.PublicKeyInfo.wrap(keys.RSAPublicKey.load(encode_rsa_public_key(pub)), "rsa").dump()
        issued = pki.new_teacher("Lê Minh Tâm", public_key=serialization.load_der_public_key(spki))
        for label, cert, cid in [("gv-key", issued.cert, b"\x01")] + [
                (f"ca-{i}", c, bytes([i + 2])) for i, c in enumerate(issued.chain)]:
            session.create_object({
                pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                pkcs11.Attribute.TOKEN: True, pkcs11.Attribute.LABEL: label, pkcs11.Attribute.ID: cid,
                pkcs11.Attribute.SUBJECT: cert.subject.public_bytes(),
                pkcs11.Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER)})
    return Pkcs11Source(module=SOFTHSM_LIB, pin=TOKEN_PIN, key_label="gv-key", token_label="gv-token")


@pytest.fixture(scope="session")
def remote(pki) -> RemoteSource:
    """The local CSC service with one credential for the principal (key held by the service only)."""
    issued = pki.ca.issue(pki.school_ca, "teacher", "Phạm Quốc Việt", org="Trường THPT Hoàng Diệu",
                          title="Hiệu trưởng")
    creds = {"hieutruong-hd": Credential(issued.key, [issued.cert, *issued.chain], REMOTE_PIN)}
    url, server = serve(make_csc_app(creds))
    yield RemoteSource(url, "hieutruong-hd", REMOTE_PIN)
    server.should_exit = True


@pytest.fixture(scope="session")
def pdfsig(pki, tmp_path_factory):
    """pdfsig(path) -> its output, run against an NSS database that trusts the pilot root."""
    if shutil.which("pdfsig") is None or shutil.which("certutil") is None:
        pytest.fail("pdfsig/certutil missing: apt-get install poppler-utils libnss3-tools")
    from cryptography.hazmat.primitives import serialization

    nss = tmp_path_factory.mktemp("nssdb")
    root_pem = nss / "root.pem"
    root_pem.write_bytes(pki.ca.root().public_bytes(serialization.Encoding.PEM))
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "pilot-root", "-t", "CT,C,C", "-i", str(root_pem)],
                   check=True, capture_output=True)

    def run(path: Path, ocsp: bool = False) -> str:
        args = ["pdfsig", "-nssdir", f"sql:{nss}", *([] if ocsp else ["-no-ocsp"]), str(path)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return proc.stdout + proc.stderr

    return run


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
