"""The command line (`central-server signature sign/verify`) and the pilot PKI endpoints over real HTTP."""

from __future__ import annotations

import json
import urllib.request

import pytest
from asn1crypto import core, tsp
from conftest import P12_PASSWORD, SOFTHSM_LIB, TOKEN_PIN  # noqa: I001
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from test_signature_pades import sample_doc
from typer.testing import CliRunner

from central_server.signature.cli import app
from central_server.signature.pdf_render import render_pdf


def _post(url: str, body: bytes, ctype: str) -> bytes:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


@pytest.fixture()
def files(pki, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.ca.root().public_bytes(serialization.Encoding.PEM))
    blank = tmp_path / "blank.pdf"
    blank.write_bytes(render_pdf(sample_doc()))
    p12 = tmp_path / "gv.p12"
    p12.write_bytes(pki.teacher.pkcs12(P12_PASSWORD))
    return root, blank, p12


def test_cli_sign_p12_then_token_and_verify_json(pki, softhsm, files, tmp_path):
    root, blank, p12 = files
    runner = CliRunner()
    env = {"P12_PASS": P12_PASSWORD, "TOKEN_PIN": TOKEN_PIN}
    one, two = tmp_path / "one.pdf", tmp_path / "two.pdf"
    r = runner.invoke(app, ["sign", str(blank), "--out", str(one), "--p12", str(p12), "--password-env", "P12_PASS",
                            "--field", "GiaoVien", "--tsa", pki.tsa_url, "--trust-root", str(root)], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["sign", str(one), "--out", str(two), "--pkcs11", SOFTHSM_LIB, "--key-label", "gv-key",
                            "--token-label", "gv-token", "--pin-env", "TOKEN_PIN", "--field", "HieuTruong",
                            "--level", "B-LT", "--tsa", pki.tsa_url, "--trust-root", str(root)], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["verify", str(two), "--json", "--trust-root", str(root)])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["verdict"] == "valid" and [s["pades_level"] for s in report["signatures"]] == ["B-T", "B-LT"]


def test_cli_wrong_password_and_tampered_file(pki, files, tmp_path):
    root, blank, p12 = files
    runner = CliRunner()
    out = tmp_path / "out.pdf"
    r = runner.invoke(app, ["sign", str(blank), "--out", str(out), "--p12", str(p12), "--password-env", "P12_PASS",
                            "--tsa", pki.tsa_url, "--trust-root", str(root)], env={"P12_PASS": "sai"})
    assert r.exit_code == 2 and "Sai mật khẩu" in r.output and not out.exists()
    r = runner.invoke(app, ["sign", str(blank), "--out", str(out), "--p12", str(p12), "--password-env", "P12_PASS",
                            "--tsa", pki.tsa_url, "--trust-root", str(root)], env={"P12_PASS": P12_PASSWORD})
    assert r.exit_code == 0, r.output
    data = bytearray(out.read_bytes())
    data[len(data) // 4] ^= 0x01
    out.write_bytes(bytes(data))
    r = runner.invoke(app, ["verify", str(out), "--trust-root", str(root)])
    assert r.exit_code == 1 and "KHÔNG HỢP LỆ" in r.output


def test_tsa_answers_and_rejects(pki):
    import hashlib

    good = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"x").digest()},
        "cert_req": True}).dump()
    resp = tsp.TimeStampResp.load(_post(pki.tsa_url, good, "application/timestamp-query"))
    assert resp["status"]["status"].native == "granted"
    md5 = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "md5"}, "hashed_message": hashlib.md5(b"x").digest()}}).dump()
    bad = _status_only(_post(pki.tsa_url, md5, "application/timestamp-query"))
    assert bad["status"].native == "rejection" and "bad_alg" in bad["fail_info"].native
    junk = _status_only(_post(pki.tsa_url, b"\x30\x03junk", "application/timestamp-query"))
    assert junk["status"].native == "rejection" and "bad_data_format" in junk["fail_info"].native


def _status_only(der: bytes) -> tsp.PKIStatusInfo:
    """A rejected TimeStampResp carries only its PKIStatusInfo (no token)."""
    return tsp.PKIStatusInfo.load(core.Sequence.load(der).contents)


def test_ocsp_good_revoked_and_malformed(pki):
    from cryptography.hazmat.primitives import hashes

    issuer = pki.ca.cert(pki.school_ca)
    teacher = pki.new_teacher("Trịnh Công Sơn")

    def ask(cert):
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        return ocsp.load_der_ocsp_response(_post(f"{pki.base}/ocsp/{pki.school_ca}",
                                                 req.public_bytes(serialization.Encoding.DER),
                                                 "application/ocsp-request"))

    first = ask(teacher.cert)
    assert first.certificate_status == ocsp.OCSPCertStatus.GOOD
    pki.ca.revoke(teacher.cert.serial_number, "superseded")
    later = ask(teacher.cert)
    assert later.certificate_status == ocsp.OCSPCertStatus.REVOKED and later.revocation_time_utc is not None
    broken = ocsp.load_der_ocsp_response(_post(f"{pki.base}/ocsp/{pki.school_ca}", b"nonsense",
                                               "application/ocsp-request"))
    assert broken.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
