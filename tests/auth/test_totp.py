from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payguard.auth.totp import (
    DIGITS,
    PERIOD,
    WINDOW,
    match_step,
    new_secret,
    provisioning_uri,
    qr_png,
    qr_svg,
    time_step,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def vectors(name: str) -> tuple[dict[str, Any], list[Any]]:
    """A vector file's shared fields and its `vectors` rows as pytest params, ids from the row."""
    document = json.loads((VECTORS / name).read_text())
    rows = document.pop("vectors")
    ids = [
        "-".join(str(row[k]) for k in ("algorithm", "time", "counter") if k in row) for row in rows
    ]
    return document, [pytest.param(row, id=i) for row, i in zip(rows, ids, strict=True)]


HOTP, HOTP_ROWS = vectors("rfc4226_hotp.json")
TOTP, TOTP_ROWS = vectors("rfc6238_totp.json")


def b32(ascii_seed: str) -> str:
    return base64.b32encode(ascii_seed.encode()).decode()


SECRET = b32(HOTP["secret_ascii"])  # the RFC's "12345678901234567890"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def code_for(step: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


# RFC 4226 Appendix D -----------------------------------------------------------------------


@pytest.mark.parametrize("row", HOTP_ROWS)
def test_rfc4226_hotp(row: dict[str, Any]) -> None:
    seed = HOTP["secret_ascii"].encode()
    mac = hmac.new(seed, row["counter"].to_bytes(8, "big"), hashlib.sha1).digest()
    assert mac.hex() == row["hmac_sha1_hex"]
    offset = mac[-1] & 0x0F
    assert int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF == row["truncated"]
    hotp = pyotp.HOTP(b32(HOTP["secret_ascii"]), digits=HOTP["digits"])
    assert hotp.at(row["counter"]) == row["hotp"]


@pytest.mark.parametrize("row", HOTP_ROWS)
def test_rfc4226_hotp_through_match_step(row: dict[str, Any]) -> None:
    # TOTP is HOTP with the time step as counter: step c is matched at c * PERIOD.
    counter = row["counter"]
    assert match_step(SECRET, row["hotp"], at=at(counter * PERIOD), last_step=None) == counter


# RFC 6238 Appendix B -----------------------------------------------------------------------


@pytest.mark.parametrize("row", TOTP_ROWS)
def test_rfc6238_totp(row: dict[str, Any]) -> None:
    seed = TOTP["seeds_ascii"][row["algorithm"]]
    totp = pyotp.TOTP(
        b32(seed),
        digits=TOTP["digits"],
        digest=DIGESTS[row["algorithm"]],
        interval=TOTP["period"],
    )
    assert totp.at(row["time"]) == row["totp"]
    assert time_step(at(row["time"])) == int(row["step_hex"], 16)
    assert at(row["time"]).strftime("%Y-%m-%d %H:%M:%S") == row["utc"]


@pytest.mark.parametrize("row", [p for p in TOTP_ROWS if p.values[0]["algorithm"] == "sha1"])
def test_rfc6238_sha1_through_match_step(row: dict[str, Any]) -> None:
    # A 6-digit code is the same truncated value mod 10**6: the last 6 of the 8 digits.
    six = f"{int(row['totp']) % 10**DIGITS:0{DIGITS}d}"
    assert six == row["totp"][-DIGITS:]
    assert pyotp.TOTP(SECRET, digits=DIGITS).at(row["time"]) == six
    step = int(row["step_hex"], 16)
    assert match_step(SECRET, six, at=at(row["time"]), last_step=None) == step
    assert match_step(SECRET, six, at=at(row["time"]), last_step=step) is None


# Window, replay and format --------------------------------------------------------------------

NOW = datetime(2026, 3, 2, 9, 30, 10, tzinfo=UTC)
STEP = time_step(NOW)


def test_constants() -> None:
    assert (DIGITS, PERIOD, WINDOW) == (6, 30, 1)


def test_current_step_matches() -> None:
    assert match_step(SECRET, code_for(STEP), at=NOW, last_step=None) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_adjacent_steps_are_accepted(offset: int) -> None:
    assert match_step(SECRET, code_for(STEP + offset), at=NOW, last_step=None) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_steps_outside_the_window_are_refused(offset: int) -> None:
    assert match_step(SECRET, code_for(STEP + offset), at=NOW, last_step=None) is None


def test_window_is_a_parameter() -> None:
    code = code_for(STEP + 2)
    assert match_step(SECRET, code, at=NOW, last_step=None, window=2) == STEP + 2
    assert match_step(SECRET, code_for(STEP + 1), at=NOW, last_step=None, window=0) is None


def test_step_boundaries_follow_the_clock() -> None:
    start = at(STEP * PERIOD)
    assert time_step(start) == STEP
    assert time_step(start - timedelta(microseconds=1)) == STEP - 1
    assert time_step(start + timedelta(seconds=PERIOD - 1)) == STEP


def test_replay_of_the_same_step_is_refused() -> None:
    code = code_for(STEP)
    accepted = match_step(SECRET, code, at=NOW, last_step=None)
    assert accepted == STEP
    assert match_step(SECRET, code, at=NOW, last_step=accepted) is None
    assert match_step(SECRET, code, at=NOW + timedelta(seconds=25), last_step=accepted) is None


def test_older_step_after_a_newer_one_is_refused() -> None:
    newer = match_step(SECRET, code_for(STEP + 1), at=NOW, last_step=None)
    assert newer == STEP + 1
    assert match_step(SECRET, code_for(STEP), at=NOW, last_step=newer) is None
    assert match_step(SECRET, code_for(STEP - 1), at=NOW, last_step=newer) is None


def test_a_later_step_after_an_accepted_one_is_accepted() -> None:
    assert match_step(SECRET, code_for(STEP + 1), at=NOW, last_step=STEP) == STEP + 1


def test_minus_one_means_nothing_accepted_yet() -> None:
    assert match_step(SECRET, code_for(STEP), at=NOW, last_step=-1) == STEP


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        " 12345",
        "123456 ",
        "12 345",
        "-12345",
        "+12345",
        "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
        "12345\n",
        "12345.0",
    ],
)
def test_malformed_codes_are_refused(code: str) -> None:
    assert match_step(SECRET, code, at=NOW, last_step=None) is None


def test_non_ascii_digits_of_a_valid_code_are_refused() -> None:
    code = code_for(STEP)
    fullwidth = "".join(chr(ord(c) - ord("0") + 0xFF10) for c in code)
    assert match_step(SECRET, fullwidth, at=NOW, last_step=None) is None


def test_wrong_secret_is_refused() -> None:
    other = b32("abcdefghijabcdefghij")
    assert match_step(other, code_for(STEP), at=NOW, last_step=None) is None
    assert match_step(SECRET, code_for(STEP, other), at=NOW, last_step=None) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        time_step(datetime(2026, 3, 2, 9, 30))


@settings(deadline=None)
@given(st.integers(min_value=PERIOD, max_value=2**34))
def test_round_trip_any_time(seconds: int) -> None:
    when = at(seconds)
    step = time_step(when)
    # last_step = step - 1 leaves step and step + 1; the lowest match is returned, so a chance
    # collision with step + 1's code cannot change the answer.
    assert match_step(SECRET, code_for(step), at=when, last_step=step - 1) == step


# Secret, URI and QR ---------------------------------------------------------------------------


def test_new_secret_is_160_bit_base32() -> None:
    secret = new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert new_secret() != secret


def test_provisioning_uri() -> None:
    uri = provisioning_uri(SECRET, account="alice@example.com", issuer="Payguard Bank")
    assert uri.startswith("otpauth://totp/Payguard%20Bank:alice%40example.com?")
    assert f"secret={SECRET}" in uri
    assert "issuer=Payguard%20Bank" in uri
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == SECRET and parsed.digits == DIGITS and parsed.interval == PERIOD


def test_qr_png() -> None:
    png = qr_png(provisioning_uri(SECRET, account="alice", issuer="Payguard"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 200


def test_qr_svg() -> None:
    svg = qr_svg(provisioning_uri(SECRET, account="alice", issuer="Payguard"))
    assert svg.startswith(("<?xml", "<svg"))
    assert "</svg>" in svg
