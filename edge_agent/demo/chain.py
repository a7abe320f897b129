"""`make demo`: the whole chain on one machine. The demo school's edge agent plays a walk-by video, proposes
attendance on the teacher's kiosk, and (when Mosquitto is installed) publishes its signed events through a
private broker to a central server started with demo data, whose operations centre (/ioc) shows the school.

Without the `mosquitto` binary only the school side runs (kiosk, proposals; events wait in the outbox).
The processes stay up until Ctrl-C (or SIGTERM), also when not run from a terminal; `--no-hold` ends at once.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.demo import broker as demo_broker
from edge_agent.demo.central import ACCOUNTS, CentralDemo
from edge_agent.demo.e2e import (
    BICH,
    BIDEN,
    OBAMA,
    TEACHER_ID,
    TEACHER_PIN,
    DemoSchool,
    build,
    proposed,
    start_service,
    wait_until_played,
)
from edge_agent.store.school_keys import read_key

SCHOOL, SCHOOL_NAME = "THPT-DEMO", "Trường THPT Demo"
ROSTER = [("10A1", 10, OBAMA, "Barack Obama"), ("10A2", 10, BIDEN, "Joe Biden"), ("10A1", 10, BICH, "Lâm Thị Bích")]
INTRO = """make demo: một trường mẫu ({school}) từ camera đến Sở.
  1. Máy trạm (edge-agent run) xem video người đi qua cửa lớp A101, nhận ra học sinh và đề xuất điểm danh
     trên trang kiosk của giáo viên.
  2. {central}
Thời gian: khoảng 1-3 phút (lần đầu thêm vài phút cài đặt và tải mô hình); xong sẽ in địa chỉ và tài khoản."""
WITH_CENTRAL = ("Sự kiện đã ký đi qua Mosquitto riêng của demo tới máy chủ Sở (dữ liệu mẫu 39 trường);\n"
                "     trang điều hành /ioc cho thấy điểm danh của trường mẫu.")
WITHOUT_CENTRAL = ("Không có `mosquitto` trên máy này: chỉ chạy phía trường (kiosk); sự kiện chờ trong outbox.\n"
                   "     Cài Mosquitto (Debian: apt-get install mosquitto) để xem cả máy chủ Sở và trang /ioc.")


class Stopped(Exception):
    """SIGTERM: stop like Ctrl-C."""


@dataclass
class Chain:
    demo: DemoSchool
    edge: object                       # subprocess.Popen of `edge-agent run`
    broker: demo_broker.DemoBroker | None
    central: CentralDemo | None
    events: int = 0

    def alive(self) -> str | None:
        """None while every process runs, else which one stopped."""
        if self.edge.poll() is not None:
            return f"edge-agent run (mã thoát {self.edge.returncode})"
        if self.broker and self.broker.proc and self.broker.proc.poll() is not None:
            return "mosquitto"
        if self.central:
            for proc in self.central.procs:
                if proc.poll() is not None:
                    return f"central-server (mã thoát {proc.returncode})"
        return None

    def stop(self) -> None:
        if self.edge.poll() is None:
            self.edge.send_signal(signal.SIGTERM)
            try:
                self.edge.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a stuck agent is killed rather than left behind
                self.edge.kill()
        if self.central:
            self.central.stop()
        if self.broker:
            self.broker.stop()

    def school_id(self) -> int | None:
        conn = sqlite3.connect(f"file:{self.central.db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT id FROM schools WHERE code = ?", (SCHOOL,)).fetchone()
            return row[0] if row else None
        finally:
            conn.close()


def run_chain(workdir: Path, *, kiosk_port: int, central_port: int, use_broker: bool | None = None,
              store=None, events_timeout: float = 60.0, say=print) -> Chain:
    """Start everything and wait until the walk-by was played (and its events stored centrally)."""
    use_broker = demo_broker.available() if use_broker is None else use_broker
    broker = central = edge = None
    try:
        if use_broker:
            broker = demo_broker.DemoBroker.for_logins(SCHOOL, "central-ingest")
        say("[1/4] Trường mẫu: mô hình, ảnh mẫu, thư viện khuôn mặt, video người đi qua …")
        demo = build(workdir / "school", kiosk_port=kiosk_port, store=store, broker=bool(broker),
                     broker_port=broker.port if broker else 1883,
                     broker_password=broker.users[SCHOOL] if broker else None)
        if broker:
            say(f"[2/4] Mosquitto riêng (cổng {broker.port}, tài khoản {SCHOOL} và central-ingest, ACL của "
                "hardware/mosquitto/) …")
            broker.start()
            central = CentralDemo(workdir / "central", central_port, broker.port, broker.users["central-ingest"])
            say("[3/4] Máy chủ Sở với dữ liệu mẫu:")
            central.prepare(SCHOOL, SCHOOL_NAME, ROSTER, read_key(demo.workdir / "keys").hex(), say=say)
            say(f"  central-server serve --port {central_port} và central-server ingest run …")
            central.start()
        else:
            say("[2/4] Bỏ qua Mosquitto và máy chủ Sở (chưa cài mosquitto).")
        say("[4/4] edge-agent run: phát video qua camera a101-door …")
        edge = start_service(demo)
        chain = Chain(demo, edge, broker, central)
        wait_until_played(demo, edge)
        if central:
            chain.events = central.wait_events(SCHOOL, 1, events_timeout)
        return chain
    except BaseException:   # Ctrl-C or a failure while starting: nothing is left running
        if edge is not None:
            Chain(demo, edge, broker, central).stop()
        else:
            if central:
                central.stop()
            if broker:
                broker.stop()
        raise


def report(chain: Chain, say=print) -> None:
    say("\nĐề xuất điểm danh (giáo viên xác nhận trên kiosk):")
    for name, cls, status in proposed(chain.demo.db):
        say(f"  {cls:5} {name:<15} {status or 'chưa thấy (đề xuất vắng khi hết giờ điểm danh)'}")
    say(f"\nKiosk giáo viên:  http://127.0.0.1:{chain.demo.kiosk_port}/   mã GV {TEACHER_ID}, PIN {TEACHER_PIN}")
    if not chain.central:
        say("Máy chủ Sở: không chạy (chưa cài mosquitto).")
        return
    c = chain.central
    say(f"Máy chủ Sở đã nhận {chain.events} sự kiện của {SCHOOL}.")
    sid = chain.school_id()
    say(f"Trang điều hành Sở: {c.url}/ioc   (trường mẫu: {c.url}/ioc/schools/{sid})")
    say(f"Đăng nhập: {c.url}/login   mật khẩu chung của các tài khoản demo: {c.password}")
    for username, role in ACCOUNTS:
        say(f"  {username:<10} {role}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"))
    parser.add_argument("--port", type=int, default=8080, help="kiosk port")
    parser.add_argument("--central-port", type=int, default=8000)
    parser.add_argument("--hold", action=argparse.BooleanOptionalAction, default=True,
                        help="keep everything running until Ctrl-C / SIGTERM (default)")
    args = parser.parse_args(argv)
    use_broker = demo_broker.available()
    print(INTRO.format(school=SCHOOL, central=WITH_CENTRAL if use_broker else WITHOUT_CENTRAL), flush=True)

    def on_term(*_):
        raise Stopped

    # Ctrl-C reaches every process of the group: the children stop too, and the demo says it was stopped. SIGINT
    # is set explicitly because a shell that starts the demo in the background hands it SIGINT ignored.
    previous = {sig: signal.signal(sig, on_term) for sig in (signal.SIGTERM, signal.SIGINT)}
    started = time.monotonic()
    chain = None
    try:
        chain = run_chain(args.workdir.resolve(), kiosk_port=args.port, central_port=args.central_port,
                          use_broker=use_broker, say=lambda m: print(m, flush=True))
        report(chain)
        print(f"\n(sẵn sàng sau {time.monotonic() - started:.0f} s)", flush=True)
        ok = any(n == "Barack Obama" and s == "present" for n, _, s in proposed(chain.demo.db))
        ok = ok and (chain.central is None or chain.events > 0)
        if not ok:
            print("Lỗi: demo không ra kết quả mong đợi (xem các dòng trên).", flush=True)
        if args.hold:
            print("Các dịch vụ đang chạy; nhấn Ctrl-C để dừng.", flush=True)
            while (gone := chain.alive()) is None:
                time.sleep(0.5)
            time.sleep(1.0)   # a Ctrl-C that stopped a child first is handled here (Stopped) before the report
            print(f"Demo đã dừng: {gone} không còn chạy.", flush=True)
            return 1
        return 0 if ok else 1
    except (KeyboardInterrupt, Stopped):
        print("\nĐã dừng demo.", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"Lỗi: {exc}", file=sys.stderr, flush=True)
        print("Demo đã dừng.", flush=True)
        return 1
    finally:
        for sig in previous:                    # a second Ctrl-C does not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        if chain:
            chain.stop()
        for sig, handler in previous.items():   # a caller (a test) gets its own handlers back
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
