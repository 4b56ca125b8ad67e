"""Unguessable identifiers, cheap enough for the hot path."""

from __future__ import annotations

import os
import threading

_BATCH = 4096
_lock = threading.Lock()
_pool = b""


def new_id() -> str:
    """32 hex characters from the OS CSPRNG (128 bits), drawn in batches.

    `os.urandom` costs ~100+ µs a call on some virtual machines; one call per 256 ids keeps
    ids unpredictable without paying that on every assessment.
    """
    global _pool
    with _lock:
        if len(_pool) < 16:
            _pool = os.urandom(_BATCH)
        chunk, _pool = _pool[:16], _pool[16:]
    return chunk.hex()
