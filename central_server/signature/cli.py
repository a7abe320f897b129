# ruff: noqa: B008  (typer declares options as call defaults)
"""`central-server signature ...`: sign and verify PDFs from the command line, and run the pilot CA.

    central-server signature sign IN.pdf --out OUT.pdf (--p12 FILE --password-env VAR |
        --pkcs11 MODULE [--slot N] --key-label L [--pin-env VAR]) [--tsa URL] [--level B-T|B-LT]
    central-server signature verify FILE.pdf [--json]
    central-server signature ca init|school|issue|revoke ...

Exit status: 0 done / valid, 1 verified invalid or indeterminate, 2 refused (clear message on stderr).
Secrets come from environment variables (or a prompt), never from the command line.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

import typer

# Commands import their work inside the function: pyHanko, python-pkcs11 and the PKI load only when used.
app = typer.Typer(help="Ký số và kiểm tra chữ ký số PDF (PAdES).", no_args_is_help=True)
ca_app = typer.Typer(help="CA nội bộ thí điểm (KHÔNG có giá trị pháp lý).", no_args_is_help=True)
app.add_typer(ca_app, name="ca")


def _fail(message: str) -> None:
    typer.echo(f"Lỗi: {message}", err=True)
    raise typer.Exit(2)


def _roots(trust_root: list[Path] | None):
    from .config import SignatureSettings

    settings = SignatureSettings()
    if trust_root:
        settings = settings.model_copy(update={"trust_roots": trust_root})
    roots = settings.load_trust_roots()
    if not roots:
        _fail("chưa có chứng thư gốc tin cậy (--trust-root hoặc CENTRAL_SIGNATURE_TRUST_ROOTS).")
    return roots, settings


def _secret(env: str | None, prompt: str) -> str:
    if env:
        value = os.environ.get(env)
        if value is None:
            _fail(f"biến môi trường {env} chưa được đặt.")
        return value
    return getpass.getpass(prompt)


@app.command()
def sign(pdf: Path = typer.Argument(..., exists=True, dir_okay=False, help="Tệp PDF cần ký."),
         out: Path = typer.Option(..., "--out", help="Tệp PDF đã ký."),
         p12: Path = typer.Option(None, "--p12", help="Tệp chứng thư số PKCS#12 (.p12/.pfx)."),
         password_env: str = typer.Option(None, "--password-env", help="Biến môi trường chứa mật khẩu .p12."),
         pkcs11: str = typer.Option(None, "--pkcs11", help="Thư viện PKCS#11 của USB token (.so)."),
         slot: int = typer.Option(None, "--slot", help="Số khe (slot) của token."),
         key_label: str = typer.Option(None, "--key-label", help="Nhãn khoá trên token."),
         token_label: str = typer.Option(None, "--token-label", help="Nhãn của token (khi có nhiều khe)."),
         pin_env: str = typer.Option(None, "--pin-env", help="Biến môi trường chứa mã PIN của token."),
         field: str = typer.Option("Signature1", "--field", help="Ô chữ ký (tạo mới nếu chưa có)."),
         tsa: str = typer.Option(None, "--tsa", help="Dịch vụ cấp dấu thời gian RFC 3161 (mặc định: "
                                 "CENTRAL_SIGNATURE_TSA_URL; rỗng là TSA thí điểm của máy chủ)."),
         level: str = typer.Option("B-T", "--level", help="B-B, B-T, B-LT hoặc B-LTA."),
         reason: str = typer.Option(None, "--reason", help="Lý do ký."),
         trust_root: list[Path] = typer.Option(None, "--trust-root", help="Chứng thư gốc tin cậy (PEM).")) -> None:
    """Ký một tệp PDF (PAdES) bằng tệp PKCS#12 hoặc USB token PKCS#11."""
    from .errors import SignatureFailure
    from .pades import SignOptions, sign_pdf
    from .signers import Pkcs11Source, Pkcs12Source

    if bool(p12) == bool(pkcs11):
        _fail("chọn đúng một trong --p12 hoặc --pkcs11.")
    roots, settings = _roots(trust_root)
    try:
        if p12:
            source = Pkcs12Source.from_file(p12, _secret(password_env, "Mật khẩu tệp .p12: "))
        else:
            source = Pkcs11Source(pkcs11, _secret(pin_env, "Mã PIN của token: "), key_label=key_label, slot=slot,
                                  token_label=token_label)
        signed = sign_pdf(pdf.read_bytes(), source, SignOptions(
            field_name=field, trust_roots=roots, level=level, tsa_url=tsa or settings.effective_tsa_url(),
            reason=reason, online_revocation=settings.online_revocation))
    except SignatureFailure as exc:
        _fail(str(exc))
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_bytes(signed)
    tmp.replace(out)  # never a half-written output
    typer.echo(f"Đã ký: {out}")


@app.command()
def verify(pdf: Path = typer.Argument(..., exists=True, dir_okay=False, help="Tệp PDF cần kiểm tra."),
           as_json: bool = typer.Option(False, "--json", help="In kết quả dạng JSON."),
           offline: bool = typer.Option(False, "--offline", help="Không truy vấn OCSP/CRL trực tuyến."),
           trust_root: list[Path] = typer.Option(None, "--trust-root", help="Chứng thư gốc tin cậy (PEM).")) -> None:
    """Kiểm tra mọi chữ ký số trong một tệp PDF."""
    from .errors import SignatureFailure
    from .validation import verify_pdf

    roots, _ = _roots(trust_root)
    try:
        report = verify_pdf(pdf.read_bytes(), roots, online=not offline)
    except SignatureFailure as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str, indent=1))
    else:
        typer.echo(report.message)
        for s in report.signatures:
            ts = f"{s.timestamp:%d/%m/%Y %H:%M:%S} UTC" if s.timestamp else "không có dấu thời gian"
            typer.echo(f"- {s.field_name}: {s.signer} ({ts}, PAdES {s.pades_level}) — {s.message}")
    raise typer.Exit(0 if report.verdict in ("valid", "valid_revoked_later") else 1)


def _ca():
    from .config import SignatureSettings
    from .internal_ca import InternalCA

    s = SignatureSettings()
    if not s.ca_dir or not s.ca_passphrase:
        _fail("đặt CENTRAL_SIGNATURE_CA_DIR và CENTRAL_SIGNATURE_CA_PASSPHRASE.")
    return InternalCA(s.ca_dir, s.ca_passphrase, s.pki_base_url())


@ca_app.command("init")
def ca_init() -> None:
    """Tạo CA gốc thí điểm và dịch vụ cấp dấu thời gian."""
    from .tsa import ensure_pilot_tsa

    ca = _ca()
    ca.init_root()
    ensure_pilot_tsa(ca)
    typer.echo(f"Đã tạo CA gốc tại {ca.dir} (không có giá trị pháp lý).")


@ca_app.command("school")
def ca_school(code: str, name: str) -> None:
    """Tạo CA trung gian cho một trường."""
    _ca().add_school_ca(code, name)
    typer.echo(f"CA của trường: school-{code}")


@ca_app.command("issue")
def ca_issue(school_code: str, profile: str, common_name: str,
             out: Path = typer.Option(..., "--out", help="Tệp .p12 xuất ra."),
             title: str = typer.Option(None, "--title"), org: str = typer.Option(None, "--org"),
             password_env: str = typer.Option(None, "--password-env")) -> None:
    """Cấp chứng thư số (teacher|school) kèm khoá trong tệp PKCS#12."""
    from .internal_ca import CAError

    try:
        issued = _ca().issue(f"school-{school_code}", profile, common_name, org=org, title=title)
    except CAError as exc:
        _fail(str(exc))
    out.write_bytes(issued.pkcs12(_secret(password_env, "Mật khẩu cho tệp .p12: "), common_name))
    typer.echo(f"Đã cấp chứng thư số {issued.cert.serial_number:x} → {out}")


@ca_app.command("revoke")
def ca_revoke(serial_hex: str, reason: str = typer.Option("key_compromise", "--reason")) -> None:
    """Thu hồi chứng thư số (theo số hiệu dạng hex)."""
    from .internal_ca import CAError

    try:
        _ca().revoke(int(serial_hex, 16), reason)
    except (CAError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"Đã thu hồi {serial_hex}")
