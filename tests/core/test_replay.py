"""The replay checks every capability that takes signed or one-time messages shares: a signed
timestamp within `MAX_SKEW_SECONDS` of the clock, and the shape of a nonce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payguard.core.errors import AuthenticationFailed, ValidationFailed
from payguard.core.replay import MAX_SKEW_SECONDS, NONCE, check_freshness, check_nonce

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TS = int(NOW.timestamp())
NONCE_VALUE = "n0nce-Value_1234567890"


def test_constants() -> None:
    assert MAX_SKEW_SECONDS == 300


# Freshness and nonces ---------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, -1, 299, -299, 300, -300])
def test_fresh_timestamps(offset: int) -> None:
    check_freshness(TS + offset, now=NOW)


@pytest.mark.parametrize("offset", [301, -301, 3600, -86400, -TS])
def test_stale_timestamps(offset: int) -> None:
    with pytest.raises(AuthenticationFailed, match="device signature timestamp is stale"):
        check_freshness(TS + offset, now=NOW)


def test_skew_is_a_parameter() -> None:
    check_freshness(TS + 30, now=NOW, skew=30)
    with pytest.raises(AuthenticationFailed):
        check_freshness(TS + 31, now=NOW, skew=30)
    with pytest.raises(AuthenticationFailed):
        check_freshness(TS, now=NOW + timedelta(seconds=31), skew=30)


@pytest.mark.parametrize("nonce", ["a" * 16, "A-z_0-9" * 3, "x" * 128, NONCE_VALUE])
def test_valid_nonces(nonce: str) -> None:
    check_nonce(nonce)
    assert NONCE.fullmatch(nonce)


@pytest.mark.parametrize(
    "nonce",
    ["", "a" * 15, "x" * 129, "a" * 16 + "\n", "has space in it!", "a" * 15 + "=", "ä" * 16],
)
def test_invalid_nonces(nonce: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_nonce(nonce)
    assert raised.value.field == "nonce"
