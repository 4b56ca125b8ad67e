"""What the whole suite's captured logs are scanned for (`tests/conftest.py`).

- The card networks' test numbers (`vectors/pan_masking.json`) and the other kinds' clear
  values the vault tests tokenize (`vectors/vault_clear_values.json`), in any spelling:
  up to three other characters between any two characters of the value.
- Every key the run made or used: each key given to AES-GCM (`AESGCM(key)`: key-encryption
  keys, data keys, auth's legacy sealing keys) and each FF1 data key the keyring handed out
  (`Keyring.data_key`, `data_key_at`), in hex and in base64 (standard or URL-safe, padded or
  not). `record_keys()` installs the recording before payguard is imported.
- Personal data of any kind the Data Shield's scanner finds (`Scanner.default()`, default
  thresholds): `personal_data_in`. The log scrubber uses the same scanner, so this catches a
  path that logs without it.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payguard.shield.scanner import Scanner

_VECTORS = Path(__file__).parent / "vectors"

TEST_PANS = [
    entry["pan"] for entry in json.loads((_VECTORS / "pan_masking.json").read_text())["pans"]
]
CLEAR_VALUES = [
    entry["value"]
    for entry in json.loads((_VECTORS / "vault_clear_values.json").read_text())["values"]
]


def _spelled(value: str) -> str:
    """`value` with up to three other characters between any two of its characters."""
    return "[^0-9A-Za-z]{0,3}".join(re.escape(char) for char in value)


#: The clear values in any spelling, never inside a longer run of letters and digits.
CLEAR = re.compile(
    "(?<![0-9A-Za-z])(?:"
    + "|".join(_spelled(value) for value in [*TEST_PANS, *CLEAR_VALUES])
    + ")(?![0-9A-Za-z])",
    re.IGNORECASE,
)

#: Every written form of every recorded key.
KEY_FORMS: set[str] = set()
_SEEN: set[bytes] = set()
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_\-]{22,}={0,2}")
_HEX_LENGTHS = (32, 48, 64)
_B64_LENGTHS = (22, 24, 32, 43, 44)


def remember_key(key: Any) -> None:
    """Record `key` (bytes-like) and its hex and base64 forms."""
    raw = bytes(key)
    if len(raw) < 16 or raw in _SEEN:
        return
    _SEEN.add(raw)
    KEY_FORMS.add(raw.hex())
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        KEY_FORMS.add(text)
        KEY_FORMS.add(text.rstrip("="))


def leaks_key(text: str) -> bool:
    """Whether `text` holds a recorded key, in hex or base64."""
    if not KEY_FORMS:
        return False
    for match in _HEX_RUN.finditer(text):
        run = match.group(0).lower()
        for length in _HEX_LENGTHS:
            for start in range(len(run) - length + 1):
                if run[start : start + length] in KEY_FORMS:
                    return True
    for match in _B64_RUN.finditer(text):
        run = match.group(0)
        for length in _B64_LENGTHS:
            for start in range(len(run) - length + 1):
                if run[start : start + length] in KEY_FORMS:
                    return True
    return False


def leak_in(text: str) -> str | None:
    """What `text` leaks ("clear value" or "key"), or None."""
    if CLEAR.search(text):
        return "clear value"
    if leaks_key(text):
        return "key"
    return None


_scanner: Scanner | None = None


def personal_data_in(text: str) -> list[str]:
    """The kinds of personal data `Scanner.default()` finds in `text`, one entry a finding.

    Two kinds of finding are not counted, and only these: payguard's own tokens (the
    scanner's `payguard_token`: not personal data, and logs keep them on purpose), and IP
    addresses that are not globally routable (127.0.0.1, 10.x, ...: the addresses of the
    deployment's own machines, which the log scrubber keeps on purpose; `logscrub.keeps_ip`
    is that rule). Everything else, whatever a test put in it, fails the run."""
    global _scanner
    from payguard.shield.interfaces import Entity
    from payguard.shield.logscrub import keeps_ip
    from payguard.shield.scanner import Scanner

    if _scanner is None:
        _scanner = Scanner.default()
    return [
        finding.entity.value
        for finding in _scanner.scan(text)
        if finding.entity is not Entity.PAYGUARD_TOKEN
        and not (
            finding.entity is Entity.IP_ADDRESS and keeps_ip(text[finding.start : finding.end])
        )
    ]


def record_keys() -> None:
    """Record every AES-GCM key and every FF1 data key from now on. Call before payguard
    modules import `AESGCM` (they bind the name at import)."""
    from cryptography.hazmat.primitives.ciphers import aead

    original = aead.AESGCM
    if getattr(original, "_payguard_recording", False):
        return

    class RecordingAESGCM:
        """`AESGCM` that records its key (the real class cannot be subclassed)."""

        _payguard_recording = True
        generate_key = staticmethod(original.generate_key)

        def __init__(self, key: Any) -> None:
            remember_key(key)
            self._inner = original(key)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    aead.AESGCM = RecordingAESGCM  # type: ignore[misc,assignment]

    from payguard.vault.keys import Keyring

    data_key, data_key_at = Keyring.data_key, Keyring.data_key_at

    def recorded_data_key(self: Keyring, tenant_id: str, purpose: str) -> tuple[int, bytes]:
        version, key = data_key(self, tenant_id, purpose)
        remember_key(key)
        return version, key

    def recorded_data_key_at(self: Keyring, tenant_id: str, purpose: str, version: int) -> bytes:
        key = data_key_at(self, tenant_id, purpose, version)
        remember_key(key)
        return key

    Keyring.data_key = recorded_data_key  # type: ignore[method-assign]
    Keyring.data_key_at = recorded_data_key_at  # type: ignore[method-assign]
