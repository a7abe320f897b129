"""Private Mosquitto brokers built from hardware/mosquitto/ (tests and the sync benchmark use them)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hardware" / "mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, up: bool = True, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'}")


class Broker:
    """A Mosquitto process configured from hardware/mosquitto/mosquitto.conf + acl, with test ports:

    - `port`: like the production loopback listener (central processes; a client chooses its own id). Most
      tests connect schools here too, which is the "broker config bypassed" case of the takeover test;
    - `school_port` (and `tls_port`): like the production school listener, with its listener options
      (`use_username_as_clientid`: the client id is the login).
    """

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, tls: dict[str, Path] | None = None):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.school_port = free_port()
        self.school_listener_options: list[str] = []
        self.users = users
        self.proc: subprocess.Popen | None = None
        self.conf = self.dir / "mosquitto.conf"
        self._tls = tls
        self._render(tls)

    def _render(self, tls: dict[str, Path] | None) -> None:
        (self.dir / "data").mkdir(exist_ok=True)
        out = []
        skip_listener = False
        school_options: list[str] = []
        in_school = False
        for line in (HW / "mosquitto.conf").read_text().splitlines():
            key = line.split(" ", 1)[0]
            if key == "listener":
                skip_listener = True   # listeners are re-added below with test ports
                in_school = line.split()[1:2] == ["8883"]
                continue
            if skip_listener and key == "use_username_as_clientid":
                if in_school:
                    school_options.append(line)  # the school listener's binding of client id to login
                continue
            if skip_listener and key in ("protocol", "cafile", "certfile", "keyfile", "tls_version",
                                         "require_certificate"):
                continue
            if key in ("password_file", "acl_file", "persistence_location", "log_dest", "allow_anonymous"):
                continue
            out.append(line)
        if self.users is None:
            out.append("allow_anonymous true")
        else:
            pw = self.dir / "passwd"
            csv = self.dir / "users.csv"
            csv.write_text("".join(f"{u},{p}\n" for u, p in self.users.items()))
            subprocess.run(["sh", str(HW / "make_passwords.sh"), str(pw), str(csv)], check=True,
                           capture_output=True)
            csv.unlink()
            out += ["allow_anonymous false", f"password_file {pw}", f"acl_file {HW / 'acl'}"]
        out += [f"persistence_location {self.dir / 'data'}/", f"log_dest file {self.dir / 'mosquitto.log'}"]
        if os.geteuid() == 0:
            out.append("user root")
        self.school_listener_options = school_options
        out += [f"listener {self.port} 127.0.0.1"]
        out += [f"listener {self.school_port} 127.0.0.1", *school_options]
        if tls:
            out += [f"listener {self.tls_port} 127.0.0.1", f"cafile {tls['ca']}", f"certfile {tls['cert']}",
                    f"keyfile {tls['key']}", "tls_version tlsv1.2", *school_options]
        self.conf.write_text("\n".join(out) + "\n")

    def start(self) -> Broker:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.proc.kill()
            raise RuntimeError(f"mosquitto did not start: {self.proc.stderr.read().decode()[-2000:]}") from None
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, kill: bool = False, down_s: float = 0.0) -> None:
        self.stop(kill)
        time.sleep(down_s)
        self.start()

    def add_user(self, name: str, password: str) -> None:
        """Add a login and make the running broker reload its password file (SIGHUP)."""
        self.users[name] = password
        self._render(self._tls)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)

    def log(self) -> str:
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""
