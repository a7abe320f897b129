"""`edge-agent run`, `edge-agent status` and `edge-agent init`: the service's command-line entry points."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.config import ConfigError, EdgeSettings, load_settings
from edge_agent.store.school_keys import KeyError_, write_keys

CONFIG_TEMPLATE = """# Edge agent of school {school} (written by `edge-agent init`).
# Environment variables EDGE_* override these values, e.g. EDGE_KIOSK__PORT=8081.
# Relative paths are relative to this file.
school_code = "{school}"
school_name = ""
timezone = "Asia/Ho_Chi_Minh"

[paths]
data_dir = "{data_dir}"
keys_dir = "{keys_dir}"

[attendance]
checkin_before_min = 10        # the check-in window opens before the period starts
checkin_after_min = 15         # ... and closes after it starts
late_grace_min = 5             # seen later than start + grace => proposed late
flag_unfinalised_after_min = 5 # a period not finalised 5 minutes after its end is flagged
review_crop_days = 7           # review-queue face crops are deleted after this many days
reopen_window_min = 30         # the teacher who finalised a period may reopen it this long afterwards

[bells]
morning_start = 07:00:00
afternoon_start = 13:30:00
period_minutes = 45

[broker]
host = "127.0.0.1"
port = 1883
# tls = true
# ca_file = "/etc/soctrang-edu/ca.pem"
# username = "{school}"

[kiosk]
# The teacher kiosk serves the school LAN only: bind the LAN interface's address and give it TLS
# (or keep 127.0.0.1 behind a TLS reverse proxy: behind_proxy = true, trusted_proxies = ["127.0.0.1"]).
host = "127.0.0.1"
port = 8080
# ssl_certfile = "/etc/soctrang-edu/kiosk.crt"
# ssl_keyfile = "/etc/soctrang-edu/kiosk.key"

[metrics]                     # Prometheus metrics (edge_agent/metrics.py); no login: bind the ops-VPN address only
host = "127.0.0.1"
port = 9108

[cpu]
budget_cores = 1.5             # average CPU the agent may use (a 4-core mini-PC keeps 2.5 cores free)
threads = 1

# One block per camera. source: USB index (0), rtsp://user:pass@ip/stream, or a video file.
# [[cameras]]
# name = "a101-door"
# source = "rtsp://192.168.10.21/stream1"
# role = "classroom"
# room = "A101"
# max_fps = 5
# pad = "report"               # photo / screen check: off | report (score only, default) | enforce (to review)
#
# [[cameras]]
# name = "main-gate"
# source = "rtsp://192.168.10.2/stream1"
# role = "gate"
# direction = "in"
# pad = "enforce"              # only once this camera's threshold is set from its confirmed live tracks:
# pad_threshold = 0.8          # calibrate_threshold() on `edge-agent status` pad scores (see README)
"""


def run(config: Annotated[Path, typer.Option("--config", "-c", help="tệp cấu hình edge.toml")] = Path("edge.toml"),
        until_idle: Annotated[bool, typer.Option(help="dừng khi mọi camera tệp video đã hết")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="ghi nhật ký chi tiết")] = False) -> None:
    """Chạy dịch vụ của trường: camera, nhận diện, quy tắc điểm danh, trang giáo viên, MQTT."""
    # lazy: the service's OpenCV/onnxruntime stack stays out of `edge-agent init`
    from edge_agent.service import run_service

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(config)
        code = run_service(settings, until_idle=until_idle)
    except (ConfigError, KeyError_) as exc:
        typer.echo(f"Lỗi: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def status(config: Annotated[Path, typer.Option("--config", "-c", help="tệp cấu hình edge.toml")]
           = Path("edge.toml")) -> None:
    """In tình trạng dịch vụ dạng JSON (mã thoát 0 đang chạy, 1 đã dừng, 2 không rõ)."""
    # lazy: the service's OpenCV/onnxruntime stack stays out of `edge-agent init`
    from edge_agent.service import read_health

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        typer.echo(json.dumps({"state": "unknown", "error": str(exc)}, ensure_ascii=False))
        raise typer.Exit(2) from None
    code, health = read_health(settings.paths.health_path)
    typer.echo(json.dumps(health, ensure_ascii=False, indent=2))
    raise typer.Exit(code)


def init(school: Annotated[str, typer.Option("--school", help="mã trường, ví dụ THPT-LDT")],
         out: Annotated[Path, typer.Option("--out", help="tệp cấu hình cần ghi")] = Path("edge.toml"),
         data_dir: Annotated[Path, typer.Option(help="thư mục dữ liệu (CSDL, khoá)")] = Path("var/edge"),
         force: Annotated[bool, typer.Option("--force", help="ghi đè cấu hình và thay khoá")] = False,
         ) -> None:
    """Chuẩn bị máy của trường: ghi cấu hình và tạo khoá bí mật (ký sự kiện, thư viện)."""
    try:
        EdgeSettings(school_code=school)
    except Exception:
        typer.echo(f"Lỗi: mã trường {school!r} không hợp lệ (2-20 chữ, số, - hoặc _)", err=True)
        raise typer.Exit(2) from None
    if out.exists() and not force:
        typer.echo(f"Lỗi: {out} đã có (dùng --force để ghi đè)", err=True)
        raise typer.Exit(1)
    keys_dir = data_dir / "keys"
    text = CONFIG_TEMPLATE.format(school=school, data_dir=data_dir.as_posix(), keys_dir=keys_dir.as_posix())
    base = out.resolve().parent
    data_abs = data_dir if data_dir.is_absolute() else base / data_dir
    data_abs.mkdir(mode=0o700, parents=True, exist_ok=True)   # names, ids and templates of minors live here
    os.chmod(data_abs, 0o700)
    try:
        keys = write_keys(keys_dir if keys_dir.is_absolute() else base / keys_dir, overwrite=force)
    except KeyError_ as exc:
        typer.echo(f"Lỗi: {exc}", err=True)
        raise typer.Exit(1) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    load_settings(out)                  # what we wrote must load
    typer.echo(json.dumps({"config": str(out), "keys": {k: str(v) for k, v in keys.items()}}, indent=2))
