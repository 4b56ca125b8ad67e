"""The log scrubber (`payguard.shield.logscrub`) and the whole-suite scan's helper
(`tests/leakscan.personal_data_in`).

Nothing here is logged: the planted values only pass through the functions under test (a
planted value in a real captured log would fail the session's scan, as it should)."""

from __future__ import annotations

from typing import Any

import pytest
from tests import leakscan

from payguard.shield import logscrub
from payguard.shield.logscrub import keeps_ip, scrub_text, scrub_value
from payguard.shield.scanner import Scanner

KEY = "pgk_0123456789abcdef_" + "A" * 43
#: ASCII to its full-width form (U+FF01-U+FF5E).
FULL_WIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("mail jane.doe@example.com now", "mail [email] now"),
        ("call +44 20 7946 0958", "call [phone]"),
        ("call 138 0013 8000", "call [phone]"),
        ("to GB82WEST12345698765432", "to [iban]"),
        ("id 11010519491231002X", "id [cn_resident_id]"),
        ("card 4111 1111 1111 1111 declined", "card [card] declined"),
        ("ref 6011000990139424", "ref [card]"),  # every Luhn-valid 13-19 digits, as before
        ("from 8.8.8.8", "from [ip_address]"),
        ("from 2001:4860:4860::8888", "from [ip_address]"),
        ("from ::ffff:8.8.8.8", "from [ip_address]"),
        ("passport: E12345678", "passport: [passport]"),
        ("name: Ann Lee", "name: [person]"),
        ("姓名\uff1a张三", "姓名\uff1a[person]"),  # a full-width colon
        ("key AKIAIOSFODNN7EXAMPLE", "key [secret]"),
        (f"key was {KEY}", "key was pgk_[redacted]"),
        ("mail " + "jane@example.com".translate(FULL_WIDTH), "mail [email]"),
    ],
)
def test_each_entity_becomes_its_name(text: str, scrubbed: str) -> None:
    assert scrub_text(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "paid with [card 411111******1111 token 0076151463631111]",
        "token tok_pan_abcdefghijklmnopqrstuvwxyz",
        "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
        "connection to 10.0.0.5:5432 refused",
        "listening on [::1]:8000 and 0.0.0.0",
        "order 1234567812345678 failed",  # 16 digits failing Luhn: not a card
        "2026-12-04T19:46:16.123456Z worker.started",
    ],
)
def test_tokens_deployment_addresses_and_ordinary_text_are_kept(text: str) -> None:
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.7", True),
        ("fe80::1%eth0", True),
        ("::1", True),
        ("8.8.8.8", False),
        ("::ffff:8.8.8.8", False),
        ("2001:4860:4860::8888", False),
        ("not an address", False),
    ],
)
def test_only_addresses_of_no_one_are_kept(address: str, kept: bool) -> None:
    assert keeps_ip(address) is kept


def _no_scanner() -> Any:
    raise AssertionError("the scanner was run")


@pytest.mark.parametrize(
    "text",
    ["auth.totp_secret_key_retired", "Exception in ASGI application", "bus.nats_disconnected"],
)
def test_text_no_recognizer_can_match_is_not_scanned(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setattr(logscrub, "_scanner", _no_scanner)
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "name: Ann Lee",
        "Dr. Ann Lee",
        "address: Main Street, Springfield",
        "姓名\uff1a张三",
        "key ABCDEFGHIJKLMNOPabcdefghijklmnop+/ABCD",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
    ],
)
def test_the_pre_check_passes_what_the_scanner_finds_without_digits(text: str) -> None:
    """The cheap check only skips text no recognizer can match: digit-free text that does
    hold an entity still goes to the scanner."""
    if Scanner.default().scan(text):
        assert scrub_text(text) != text


def test_safe_keys_are_not_scanned_and_sensitive_keys_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logscrub, "_scanner", _no_scanner)
    event = {
        "level": "info",
        "timestamp": "2026-12-04T19:46:16.123456Z",
        "assessment_id": "asm_01J9ZQ3V7X",
        "tenant_id": "acme",
        "pid": 4242,
        "status_code": 503,
        "duration_ms": 12.5,
        "password": "hunter2",
        "api_key": 12345678,
        "event": "assessment.done",
    }
    assert scrub_value(event) == {**event, "password": "[redacted]", "api_key": "[redacted]"}


def test_values_are_walked_and_objects_scrubbed_as_written() -> None:
    class Customer:
        def __repr__(self) -> str:
            return "Customer(jane.doe@example.com)"

    assert scrub_value(
        {
            "items": [{"to": "jane.doe@example.com"}, ("GB82WEST12345698765432",)],
            "number": 4111111111111111,
            "small": 13,
            "who": Customer(),
            "tenant_id": {"nested": "jane.doe@example.com"},  # a safe key's dict is still read
        }
    ) == {
        "items": [{"to": "[email]"}, ["[iban]"]],
        "number": "[card]",
        "small": 13,
        "who": "Customer([email])",
        "tenant_id": {"nested": "[email]"},
    }


# -- the whole-suite scan's helper --------------------------------------------------------------

SECTION = (
    '{"event": "assessment.done", "level": "info", "timestamp": "2026-12-04T19:46:16Z", '
    '"note": "paid with [card 411111******1111 token 0076151463631111]", '
    '"host": "127.0.0.1", "token": "tok_pan_abcdefghijklmnopqrstuvwxyz"}\n'
)


def test_a_clean_captured_section_passes() -> None:
    assert leakscan.personal_data_in(SECTION) == []


@pytest.mark.parametrize(
    ("planted", "kind"),
    [
        ("jane.doe@example.com", "email"),
        ("+44 20 7946 0958", "phone"),
        ("GB82WEST12345698765432", "iban"),
        ("11010519491231002X", "cn_resident_id"),
        ("4111 1111 1111 1111", "card"),
        ("8.8.8.8", "ip_address"),
    ],
    ids=["email", "phone", "iban", "resident_id", "card", "public_ip"],
)
def test_the_suite_scan_finds_planted_personal_data(planted: str, kind: str) -> None:
    section = SECTION + f'{{"event": "refused", "note": "for {planted}"}}\n'
    assert leakscan.personal_data_in(section) == [kind]
