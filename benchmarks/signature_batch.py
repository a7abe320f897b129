"""Monthly signing batch: how many attendance PDFs per second one teacher/school PKCS#12 key signs.

The province's monthly batch is 39 schools x ~30 classes = 1,170 documents. Each document is rendered
(Vietnamese fonts, QR, signature fields) and signed PAdES B-T (or B-LT) against the real pilot PKI over HTTP:
the signer's certificate is checked by OCSP before signing and a RFC 3161 time-stamp is fetched.

    .venv/bin/python benchmarks/signature_batch.py [--count 120] [--level B-T]
"""

from __future__ import annotations

import argparse
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from results_section import update_section  # noqa: E402

from central_server.signature.internal_ca import InternalCA  # noqa: E402
from central_server.signature.pades import SignOptions, sign_batch, sign_pdf  # noqa: E402
from central_server.signature.pdf_render import SignableDocument, SignatureSlot, render_pdf  # noqa: E402
from central_server.signature.routes_pki import make_pki_router  # noqa: E402
from central_server.signature.signers import Pkcs12Source  # noqa: E402
from central_server.signature.tsa import LocalTSA  # noqa: E402

BATCH = 39 * 30


def serve(app: FastAPI) -> tuple[str, uvicorn.Server]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def document(i: int) -> SignableDocument:
    rows = [[str(k + 1), f"HS{i:04d}{k:02d}", f"Học sinh Nguyễn Thị Ánh {k + 1}", "20", "1", "1"] for k in range(40)]
    return SignableDocument(
        doc_id=f"bench-{i:05d}", version=1, title=f"BẢNG TỔNG HỢP ĐIỂM DANH THÁNG 9/2025 — LỚP {i % 30 + 1}",
        authority="SỞ GIÁO DỤC VÀ ĐÀO TẠO THÀNH PHỐ CẦN THƠ", school_name=f"Trường THPT số {i // 30 + 1}",
        place_date="Sóc Trăng, ngày 30 tháng 9 năm 2025", info_lines=["Số buổi học: 22"],
        columns=["STT", "Mã HS", "Họ và tên", "Có mặt", "P", "K"], rows=rows,
        verify_url=f"https://giaoduc.example.vn/signature/d/bench-{i:05d}",
        slots=[SignatureSlot("GiaoVien", "Giáo viên chủ nhiệm", "Nguyễn Thị Hoa")], col_widths=[0.6, 1.2, 3, 1, 1, 1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=120, help="documents to sign (the full batch is 1170)")
    ap.add_argument("--level", default="B-T", choices=["B-B", "B-T", "B-LT"])
    args = ap.parse_args()
    holder: dict = {}
    app = FastAPI()
    app.include_router(make_pki_router(lambda _r: holder["ca"], lambda _r: holder["tsa"]), prefix="/pki")
    url, server = serve(app)
    with tempfile.TemporaryDirectory() as tmp:
        ca = InternalCA(tmp, "bench-pass", f"{url}/pki")
        ca.init_root()
        ca.add_school_ca("B", "Trường THPT số 1")
        tsa = ca.issue("root", "tsa", "TSA thí điểm")
        holder.update(ca=ca, tsa=LocalTSA(tsa.cert, tsa.key, tsa.chain))
        teacher = ca.issue("school-B", "teacher", "Nguyễn Thị Hoa", org="Trường THPT số 1")
        source = Pkcs12Source(teacher.pkcs12("pw"), "pw")
        opts = SignOptions("GiaoVien", [ca.root()], args.level, f"{url}/pki/tsa")
        render_s, sign_s = [], []
        t0 = time.perf_counter()
        pdfs = []
        for i in range(args.count):
            a = time.perf_counter()
            pdfs.append(render_pdf(document(i)))
            render_s.append(time.perf_counter() - a)
        t1 = time.perf_counter()
        signed = sign_batch(pdfs, source, opts)  # key opened and certificate checked once
        t2 = time.perf_counter()
        sizes = [len(p) for p in signed]
        total = t2 - t0
        for pdf in pdfs[:5]:  # one-by-one signing, as the web workflow does (open + OCSP check each time)
            a = time.perf_counter()
            sign_pdf(pdf, source, opts)
            sign_s.append(time.perf_counter() - a)
    server.should_exit = True
    rate = args.count / total
    batch_sign = (t2 - t1) / args.count
    lines = [
        f"- documents: {args.count} (40 students each), level PAdES {args.level}, PKCS#12 RSA-2048 signer",
        f"- render: median {statistics.median(render_s) * 1000:.0f} ms/doc",
        f"- sign in a batch (TSA + CMS + visible Vietnamese appearance): {batch_sign * 1000:.0f} ms/doc",
        f"- sign one document alone (also opens the key and checks OCSP): median "
        f"{statistics.median(sign_s) * 1000:.0f} ms",
        f"- throughput (render + sign, one process): **{rate:.2f} documents/s**",
        f"- monthly batch of {BATCH} documents: about {BATCH / rate / 60:.1f} min",
        f"- signed PDF size: median {statistics.median(sizes) / 1024:.0f} KiB",
        f"- machine: {platform.machine()}, Python {platform.python_version()}",
    ]
    body = "\n".join(lines) + f"\n\nCommand: `.venv/bin/python benchmarks/signature_batch.py --count {args.count} " \
                              f"--level {args.level}`"
    print(body)
    update_section("signature_batch", "Signature batch (PAdES, PKCS#12)", body)


if __name__ == "__main__":
    main()
