"""Deterministic malformed payloads derived from a valid signed event (each one differs from it)."""

from __future__ import annotations

import copy
import json
import random

from edge_agent.protocol import canonical_json

JUNK = [None, True, -1, 2**70, 1.5, "", "x" * 300, [], {}, "2025-13-45", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "../../etc", "\u0000"]


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def _del(obj, path):
    for k in path[:-1]:
        obj = obj[k]
    del obj[path[-1]]


def fuzzed(valid: bytes, n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    base = json.loads(valid)
    paths = list(_paths(base))
    out: list[bytes] = []
    while len(out) < n:
        kind = rng.randrange(10)
        if kind == 0:
            data = rng.randbytes(rng.randrange(0, 400))
        elif kind == 1:
            data = valid[: rng.randrange(0, len(valid))]  # truncated
        elif kind == 2:
            data = b"[" * 50_000 + b"]" * 50_000  # deep nesting
        elif kind == 3:
            data = json.dumps({"schema_version": 1, "pad": "x" * 70_000}).encode()  # over the size bound
        elif kind == 4:
            data = valid.replace(b'"confidence":0.71', b'"confidence":NaN')
        elif kind == 5:
            data = valid.replace(b"{", b"\xff\xfe{", 1)  # not UTF-8
        else:
            obj = copy.deepcopy(base)
            path = rng.choice(paths)
            if kind == 6:
                _del(obj, path)
            elif kind == 7:
                _set(obj, path, rng.choice(JUNK))
            elif kind == 8:
                _set(obj, path, {"nested": rng.choice(JUNK)})
            else:
                obj[rng.choice(["extra", "admin", "__proto__"])] = rng.choice(JUNK)
            data = json.dumps(obj).encode()
        try:
            same = canonical_json(json.loads(data)) == canonical_json(base)
        except Exception:  # noqa: BLE001 - not parseable: certainly different
            same = False
        if not same:
            out.append(data)
    return out
