"""Password rules (NIST SP 800-63B §5.1.1.2) and argon2id hashing.

Rules: at least `MIN_LENGTH` characters, up to `MAX_LENGTH` (NIST asks that at least 64 be
allowed), no composition rules, Unicode normalised (NFKC) before counting, checking and
hashing, and refused when it is a commonly used or breached password or the account's own id.

The bundled list, `data/common-passwords.txt`, is SecLists'
`Passwords/Common-Credentials/10-million-password-list-top-10000.txt` (danielmiessler/SecLists,
MIT licence): the 10,000 most frequent passwords of a 10-million-password breach corpus, one a
line, compared case-insensitively.

`PasswordHasher` defaults to argon2id with t=3, m=64 MiB, p=1 (above OWASP's minimum of
m=19 MiB, t=2): one hash measured 155 ms (median of 7) on the idle 2-core development machine,
170-230 ms while it was busy with other work. `benchmarks/auth.py` prints the figure for the
machine it runs on.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from payguard.core.errors import ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 128

_COMMON_LIST = "common-passwords.txt"


def normalize(password: str) -> str:
    """The password in Unicode NFKC, the form that is measured, checked and hashed."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled common/breached passwords, lowercased; read once, on first use."""
    text = resources.files("payguard.auth").joinpath("data", _COMMON_LIST).read_text("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def check_password(password: str, *, field: str = "password", user_id: str | None = None) -> None:
    """Refuse a password NIST SP 800-63B would refuse; messages never echo the password."""
    normalized = normalize(password)
    try:
        normalized.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed("password is not valid Unicode text", field=field) from None
    if len(normalized) < MIN_LENGTH:
        raise ValidationFailed(f"password must be at least {MIN_LENGTH} characters", field=field)
    if len(normalized) > MAX_LENGTH:
        raise ValidationFailed(f"password must be at most {MAX_LENGTH} characters", field=field)
    folded = normalized.casefold()
    if folded in common_passwords():
        raise ValidationFailed(
            "password is too common: it appears in lists of breached passwords", field=field
        )
    if user_id is not None and folded == normalize(user_id).casefold():
        raise ValidationFailed("password must not be the account id", field=field)


class PasswordHasher:
    """argon2id password hashing; `verify` answers yes or no and never raises for a bad guess."""

    def __init__(
        self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 1
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        # Made now, not on first use, so the first unknown-user login costs no more than others.
        self._dummy = self._hasher.hash("payguard: the stand-in password for unknown users")

    @property
    def time_cost(self) -> int:
        return self._hasher.time_cost

    @property
    def memory_cost(self) -> int:
        """KiB of memory per hash."""
        return self._hasher.memory_cost

    @property
    def parallelism(self) -> int:
        return self._hasher.parallelism

    def hash(self, password: str) -> str:
        """The encoded argon2id hash (PHC string, salt included) of the normalised password."""
        return self._hasher.hash(normalize(password))

    def verify(self, encoded: str, password: str) -> bool:
        """Whether `password` matches `encoded`; False for a mismatch or a malformed hash."""
        try:
            return self._hasher.verify(encoded, normalize(password))
        except (VerificationError, InvalidHashError, UnicodeEncodeError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """Whether `encoded` was made with other parameters and should be replaced at login."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True

    def verify_dummy(self, password: str) -> None:
        """Spend what a real verification costs, for a login naming an unknown user.

        Without it, "no such user" answers faster than "wrong password" and the timing tells
        an attacker which accounts exist.
        """
        self.verify(self._dummy, password)
