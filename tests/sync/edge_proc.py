"""A whole edge agent in one process for the kill -9 test: records N events (attendance row + outbox row per
transaction) while the MQTT link delivers them; prints "ready" once connected; exits when drained if asked.

usage: edge_proc.py DB SCHOOL KEY_HEX PORT PASSWORD FIRST_INDEX N [--drain]
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_helpers import EdgeSite, RunningLink, link_settings  # noqa: E402


def main() -> int:
    db, school, key_hex, port, password, first, n = sys.argv[1:8]
    drain = "--drain" in sys.argv
    site = EdgeSite(Path(db), school, bytes.fromhex(key_hex))
    running = RunningLink(link_settings(site, int(port), password, window=5))
    running.link.wait_connected(10)
    print("ready", flush=True)
    for i in range(int(first), int(first) + int(n)):
        site.record(i)
        time.sleep(0.002)
    if drain:
        deadline = time.monotonic() + 60
        while site.unsent() and time.monotonic() < deadline:
            time.sleep(0.05)
        running.stop()
        return 0 if site.unsent() == 0 else 1
    threading.Event().wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
