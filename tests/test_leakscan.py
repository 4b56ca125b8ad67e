"""The whole-suite log scan (`tests/leakscan.py`) finds what it is meant to find."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests import leakscan

from payguard.adapters.keys.local import LocalKeyFile
from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.audit.service import AuditService
from payguard.core.clock import FrozenClock
from payguard.vault.keys import Keyring


@pytest.mark.parametrize(
    "line",
    [
        "paid with 4111 1111 1111 1111",
        "iban=GB82 WEST 1234 5698 7654 32",
        'phone="+44 7911 123456"',
        "id 11010519491231002x",
        "to SECRET.PERSON@example.com",
    ],
)
def test_clear_values_are_found_in_any_spelling(line: str) -> None:
    assert leakscan.leak_in(line) == "clear value"


@pytest.mark.parametrize(
    "line",
    ["411111******1111", "[card 411111******1111 token 0076151463631111]", "+4479111234567"],
)
def test_masks_tokens_and_longer_numbers_are_not_clear_values(line: str) -> None:
    assert leakscan.leak_in(line) is None


def test_a_key_given_to_aes_gcm_is_found_in_hex_and_base64() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = os.urandom(32)
    AESGCM(key).encrypt(os.urandom(12), b"x", None)
    for written in (
        key.hex(),
        key.hex().upper(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
    ):
        assert leakscan.leak_in(f'{{"event": "x", "k": "{written}"}}') == "key"
    assert leakscan.leak_in(os.urandom(32).hex()) is None


def test_a_data_key_of_the_keyring_is_recorded(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(engine)
    keyring = Keyring(
        SqlDataKeyRepository(engine),
        LocalKeyFile(tmp_path / "vault.key", create=True),
        audit=AuditService(
            SqlAuditRepository(engine), FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
        ),
        clock=FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)),
    )
    _, key = keyring.data_key("t1", "fpe:pan")  # an FF1 key: never given to AES-GCM
    assert leakscan.leak_in(key.hex()) == "key"
    assert leakscan.leak_in(f"dek {base64.b64encode(key).decode()}") == "key"
    engine.dispose()
