"""Identifiers and declared purposes: the shape every caller-chosen id and purpose takes, and
unguessable ids cheap enough for the hot path."""

from __future__ import annotations

import os
import re
import threading
from typing import TypeGuard

#: A caller-chosen identifier (an account, device, user, subject, recipient... id): a letter
#: or digit, then letters, digits and `. _ : @ + -`; at most `IDENTIFIER_MAX` characters.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]*$"
IDENTIFIER_MAX = 128
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


#: A declared purpose (why values are detokenized or data is shared): 1-32 lower-case letters
#: and `_`, such as `fraud_investigation`.
PURPOSE_PATTERN = r"^[a-z][a-z_]{0,31}$"
PURPOSE_MAX = 32
_PURPOSE = re.compile(PURPOSE_PATTERN)


def is_purpose(value: object) -> TypeGuard[str]:
    """Whether `value` is a declared purpose (`PURPOSE_PATTERN`)."""
    return isinstance(value, str) and _PURPOSE.fullmatch(value) is not None


def is_identifier(value: object) -> TypeGuard[str]:
    """Whether `value` is an identifier (`IDENTIFIER_PATTERN`, 1-128 characters)."""
    return (
        isinstance(value, str)
        and len(value) <= IDENTIFIER_MAX
        and _IDENTIFIER.fullmatch(value) is not None
    )


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
