"""Reconciliation: ask the central server which delivered sequence numbers it holds, and re-send the gaps.

A PUBACK means the broker took the event; a broker crash before its next autosave, or a lost persistent
session, can still lose it. So the outbox keeps every row until the central server acknowledges it
(end-to-end; see edge_agent/sync/outbox.py). Besides the `events.ack` control messages of the ingest worker,
this check over HTTPS (run at start and every few minutes) asks the central database directly: the rows it
holds are acknowledged, the ones it lacks are marked unsent again; the link publishes them once more and the
idempotent ingest absorbs any that were not really lost.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlparse

from edge_agent.protocol import ReconcileRequest, ReconcileResponse, request_headers
from edge_agent.sync.outbox import Outbox

MAX_RANGE = 100_000


def reconcile(outbox: Outbox, central_url: str, school: str, key: bytes, *, grace_s: float = 60.0,
              ca_file: Path | None = None, timeout_s: float = 30.0) -> list[int]:
    """Acknowledge every sent row the central server holds; mark as unsent every sent row (older than `grace_s`)
    still in the outbox that it does not hold -- acknowledged ones too: a central database restored from a backup
    has lost what it acknowledged after the backup's snapshot, and the outbox keeps acknowledged rows for
    `purge_sent`'s 30 days precisely so that they can travel again (the restore drill, tests/sync)."""
    cutoff = time.time() - grace_s
    row = outbox.conn.execute("SELECT min(seq), max(seq) FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                              (cutoff,)).fetchone()
    if row[0] is None:
        return []
    lo, hi = int(row[0]), int(row[1])
    resent: list[int] = []
    while lo <= hi:
        top = min(hi, lo + MAX_RANGE - 1)
        resp = _ask(central_url, school, key, ReconcileRequest(school=school, from_seq=lo, to_seq=top),
                    ca_file, timeout_s)
        outbox.mark_acked([tuple(r) for r in resp.held])
        if resp.missing:
            have = {r[0] for r in outbox.conn.execute(
                f"SELECT seq FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? AND seq IN "
                f"({','.join('?' * len(resp.missing))})", (cutoff, *resp.missing))}
            gaps = sorted(have)
            outbox.mark_unsent(gaps)
            resent += gaps
        if len(resp.missing) >= 10_000:  # capped answer: ask again from the last gap
            lo = resp.missing[-1] + 1
        else:
            lo = top + 1
    return resent


def confirm_unsent(outbox: Outbox, central_url: str, school: str, key: bytes, *, ca_file: Path | None = None,
                   timeout_s: float = 30.0) -> list[int]:
    """Before re-sending after a restart: acknowledge every unsent row the central server already holds (its
    PUBACK was lost with the old process), so that only real gaps travel again and a late re-send is never
    mistaken for a replay. Returns the sequence numbers confirmed."""
    row = outbox.conn.execute("SELECT min(seq), max(seq) FROM outbox WHERE sent_at IS NULL").fetchone()
    if row[0] is None:
        return []
    lo, hi = int(row[0]), int(row[1])
    confirmed: list[int] = []
    while lo <= hi:
        top = min(hi, lo + MAX_RANGE - 1)
        resp = _ask(central_url, school, key, ReconcileRequest(school=school, from_seq=lo, to_seq=top),
                    ca_file, timeout_s)
        held = [seq for a, b in resp.held for seq in range(a, b + 1)]
        if held:
            unsent = {r[0] for r in outbox.conn.execute(
                f"SELECT seq FROM outbox WHERE sent_at IS NULL AND seq IN ({','.join('?' * len(held))})", held)}
            outbox.mark_acked([(s, s) for s in sorted(unsent)])
            confirmed += sorted(unsent)
        lo = top + 1
    return confirmed


def _ask(central_url: str, school: str, key: bytes, req: ReconcileRequest, ca_file: Path | None,
         timeout_s: float) -> ReconcileResponse:
    url = urljoin(central_url.rstrip("/") + "/", "api/ingest/reconcile")
    body = req.model_dump_json().encode()
    headers = request_headers(school, key, "POST", urlparse(url).path, body) | {"Content-Type": "application/json"}
    ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    http_req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(http_req, timeout=timeout_s, context=ctx) as resp:
        return ReconcileResponse.model_validate(json.loads(resp.read()))
