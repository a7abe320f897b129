"""A private Mosquitto for `make demo`: hardware/mosquitto/mosquitto.conf and its ACL, with its own port, its own
password file (the demo school's login = its school code, and the central ingest login) and a temporary folder.

Only the listeners, file paths and logging of the production file are rewritten; persistence, queue limits and
`allow_anonymous false` stay as shipped, so the demo's events cross the same broker rules as a school's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HW = Path(__file__).resolve().parents[2] / "hardware" / "mosquitto"
REWRITTEN = ("password_file", "acl_file", "persistence_location", "log_dest", "allow_anonymous", "listener",
             "protocol", "cafile", "certfile", "keyfile", "tls_version", "require_certificate", "user",
             # a setting of the schools' TLS listener: without its `listener` line it would open the default
             # listener on 1883 (taken by the system's broker); the demo's one loopback listener is the central one
             "use_username_as_clientid")


def available() -> bool:
    """Whether the `mosquitto` and `mosquitto_passwd` binaries are installed."""
    return bool(shutil.which("mosquitto") and shutil.which("mosquitto_passwd"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DemoBroker:
    """Logins: `users` (name -> password, generated). `start()` then `stop()`; the folder is removed on stop."""

    users: dict[str, str]
    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="demo-mosquitto-")))
    proc: subprocess.Popen | None = None

    @classmethod
    def for_logins(cls, *names: str) -> DemoBroker:
        return cls({name: secrets.token_urlsafe(18) for name in names})

    def _render(self) -> Path:
        os.chmod(self.dir, 0o700)
        (self.dir / "data").mkdir(exist_ok=True)
        logins = self.dir / "logins.csv"
        logins.write_text("".join(f"{u},{p}\n" for u, p in self.users.items()), encoding="utf-8")
        try:
            subprocess.run(["sh", str(HW / "make_passwords.sh"), str(self.dir / "passwd"), str(logins)], check=True,
                           capture_output=True, text=True)
        finally:
            logins.unlink()   # make_passwords.sh: the clear-text CSV must not stay on disk
        lines = [line for line in (HW / "mosquitto.conf").read_text(encoding="utf-8").splitlines()
                 if line.split(" ", 1)[0] not in REWRITTEN]
        lines += ["allow_anonymous false", f"password_file {self.dir / 'passwd'}", f"acl_file {HW / 'acl'}",
                  f"persistence_location {self.dir / 'data'}/", f"log_dest file {self.dir / 'mosquitto.log'}",
                  f"listener {self.port} 127.0.0.1", "protocol mqtt"]
        if os.geteuid() == 0:
            lines.append("user root")   # mosquitto drops root to `mosquitto`, which cannot read a 0700 folder
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf

    def start(self, timeout: float = 10.0) -> DemoBroker:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self._render())], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
