from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payguard.auth.sealing import SecretBox, key_from_base64, load_or_create_key
from payguard.core.errors import AuthenticationFailed

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
AAD = b"tenant:t1|user:u1|credential:c1"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(KEY)


def _tampered(sealed: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[index % len(raw)] ^= 0x01
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()


@settings(deadline=None)
@given(plaintext=st.binary(max_size=2048), aad=st.binary(max_size=256))
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    box = SecretBox(KEY)
    sealed = box.seal(plaintext, aad=aad)
    assert sealed.startswith("v1.")
    assert box.open(sealed, aad=aad) == plaintext


@settings(deadline=None)
@given(plaintext=st.binary(max_size=256), aad=st.binary(max_size=64), index=st.integers(0, 10**6))
def test_any_flipped_bit_is_refused(plaintext: bytes, aad: bytes, index: int) -> None:
    box = SecretBox(KEY)
    with pytest.raises(AuthenticationFailed, match="sealed secret does not open"):
        box.open(_tampered(box.seal(plaintext, aad=aad), index), aad=aad)


def test_format_is_v1_urlsafe_nonce_ciphertext_tag(box: SecretBox) -> None:
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", aad=AAD)
    raw = base64.urlsafe_b64decode(sealed.removeprefix("v1."))
    assert len(raw) == 12 + 16 + 16  # nonce, ciphertext (same length as plaintext), tag
    assert set(sealed[3:]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
    )


def test_each_seal_uses_a_fresh_nonce(box: SecretBox) -> None:
    assert box.seal(b"same", aad=AAD) != box.seal(b"same", aad=AAD)


def test_wrong_key_is_refused(box: SecretBox) -> None:
    sealed = box.seal(b"secret", aad=AAD)
    with pytest.raises(AuthenticationFailed):
        SecretBox(OTHER_KEY).open(sealed, aad=AAD)


@pytest.mark.parametrize("aad", [b"", b"tenant:t1|user:u2|credential:c1", AAD + b"x"])
def test_wrong_aad_is_refused(box: SecretBox, aad: bytes) -> None:
    sealed = box.seal(b"secret", aad=AAD)
    with pytest.raises(AuthenticationFailed):
        box.open(sealed, aad=aad)


@pytest.mark.parametrize(
    "sealed",
    [
        "",
        "v1.",
        "v2." + base64.urlsafe_b64encode(b"\x00" * 40).decode(),
        "v1." + base64.urlsafe_b64encode(b"\x00" * 27).decode(),  # shorter than nonce + tag
        "v1.not base64!",
        "v1.AAAA*AAA",
        "JBSWY3DPEHPK3PXP",
    ],
)
def test_malformed_is_refused(box: SecretBox, sealed: str) -> None:
    with pytest.raises(AuthenticationFailed, match="sealed secret does not open"):
        box.open(sealed, aad=AAD)


def test_truncated_and_extended_are_refused(box: SecretBox) -> None:
    sealed = box.seal(b"secret value", aad=AAD)
    raw = base64.urlsafe_b64decode(sealed[3:])
    for variant in (raw[:-1], raw + b"\x00", raw[:12] + raw[13:]):
        with pytest.raises(AuthenticationFailed):
            box.open("v1." + base64.urlsafe_b64encode(variant).decode(), aad=AAD)


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox(b"k" * size)


def test_key_from_base64_accepts_both_alphabets_and_no_padding() -> None:
    key = bytes([0xFB, 0xFF] * 16)
    for text in (
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        "  " + base64.b64encode(key).decode() + "\n",
    ):
        assert key_from_base64(text) == key


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("not*base64", "not valid base64"),
        (base64.b64encode(b"x" * 16).decode(), "32 bytes, got 16"),
        (base64.b64encode(b"x" * 48).decode(), "32 bytes, got 48"),
    ],
)
def test_key_from_base64_names_the_problem(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        key_from_base64(text)


def test_load_or_create_key_creates_0600_then_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "totp.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_from_base64(path.read_text()) == key
    assert load_or_create_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["totp.key"]  # no temporary left


def test_load_or_create_key_reads_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "totp.key"
    path.write_text(base64.b64encode(KEY).decode() + "\n")
    assert load_or_create_key(path) == KEY


def test_load_or_create_key_refuses_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "totp.key"
    path.write_text("garbage")
    with pytest.raises(ValueError, match=r"base64|32 bytes"):
        load_or_create_key(path)


def test_load_or_create_key_race_ends_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "totp.key"
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(load_or_create_key(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert key_from_base64(path.read_text()) == results[0]
    assert os.listdir(tmp_path) == ["totp.key"]


def test_loser_of_a_race_reads_the_winners_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "totp.key"
    winner = bytes(reversed(range(32)))
    real_link = os.link

    def link_after_someone_else(src: str, dst: str) -> None:
        Path(dst).write_text(base64.b64encode(winner).decode())
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_someone_else)
    assert load_or_create_key(path) == winner
    assert os.listdir(tmp_path) == ["totp.key"]
