"""One-time recovery codes, for a user who has lost every other second factor.

A code is 12 characters from a 32-letter alphabet without look-alikes (no i, l, o, u), shown
as `abcd-efgh-jkmn`: 60 random bits each. Only `hash_code` of a code is stored. A plain
SHA-256 is enough here, unlike for passwords: a 60-bit random code cannot be guessed from its
hash by trying likely values, so a slow hash would only cost time at every check.
"""

from __future__ import annotations

import hashlib
import secrets

COUNT = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
GROUPS = 3
GROUP_LENGTH = 4


def new_codes(count: int = COUNT) -> list[str]:
    """`count` fresh recovery codes, each like `abcd-efgh-jkmn`."""
    return [
        "-".join(
            "".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS)
        )
        for _ in range(count)
    ]


def normalize_code(code: str) -> str:
    """A code as the user may type it, reduced to what is hashed: lowercase, no spaces or
    dashes."""
    return "".join(code.split()).replace("-", "").lower()


def hash_code(code: str) -> str:
    """The stored form of a code: SHA-256 hex of the normalised code."""
    return hashlib.sha256(normalize_code(code).encode("utf-8")).hexdigest()
