"""Secrets and PII never reach the logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from payguard.logconfig import configure, scrub

KEY = "pgk_0123456789abcdef_" + "A" * 43


@pytest.mark.parametrize(
    ("value", "hidden"),
    [
        ({"authorization": "Bearer x"}, "Bearer x"),
        ({"api_key": "abc"}, "abc"),
        ({"password": "hunter2"}, "hunter2"),
        ({"note": f"key was {KEY}"}, KEY),
        ({"message": "card 4111 1111 1111 1111 declined"}, "4111 1111 1111 1111"),
        ({"nested": {"pan": "4111111111111111"}}, "4111111111111111"),
        ({"list": ["5500-0000-0000-0004"]}, "5500-0000-0000-0004"),
    ],
)
def test_scrub_hides_secrets_and_card_numbers(value: dict[str, object], hidden: str) -> None:
    assert hidden not in json.dumps(scrub(value))


def test_scrub_keeps_ordinary_numbers() -> None:
    # 16 digits that fail the Luhn check are an order number, not a card.
    assert scrub({"order": "1234567812345678"}) == {"order": "1234567812345678"}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`configure` sets process-wide logging; put it back so later tests (the CLI's, whose
    output they read) see the logging they started with."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    plugins = logging.getLogger("alembic.runtime.plugins")
    plugins_level = plugins.level
    config = structlog.get_config()
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)
    plugins.setLevel(plugins_level)
    structlog.configure(**config)


def test_configured_logger_writes_scrubbed_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO")
    structlog.get_logger("test").info("login", password="hunter2", card="4111111111111111")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "login"
    assert "hunter2" not in line and "4111111111111111" not in line


def test_library_logs_are_scrubbed_json_too(capsys: pytest.CaptureFixture[str]) -> None:
    """Standard-library loggers (uvicorn, Alembic, SQLAlchemy) go through the same scrubbing
    and come out as JSON lines."""
    configure("INFO")
    logging.getLogger("some.library").warning("rejected %s for card %s", KEY, "4111111111111111")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["level"] == "warning" and record["logger"] == "some.library"
    assert "rejected" in record["event"]
    assert KEY not in line and "4111111111111111" not in line


# -- the Data Shield's scanner behind every line (issue 15) ---------------------------------------
#
# The planted values are assembled here, never logged unscrubbed: a test's captured output is
# scanned for personal data by the whole-suite check (tests/conftest.py).

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
IBAN = "GB82WEST12345698765432"
RESIDENT_ID = "11010519491231002X"
CARD = "5500 0000 0000 0004"
PUBLIC_IP = "8.8.8.8"
SECRET = "AKIAIOSFODNN7EXAMPLE"
ENTITIES = [
    (EMAIL, "[email]"),
    (PHONE, "[phone]"),
    (IBAN, "[iban]"),
    (RESIDENT_ID, "[cn_resident_id]"),
    (CARD, "[card]"),
    (PUBLIC_IP, "[ip_address]"),
    (SECRET, "[secret]"),
    ("name: Ann Lee", "name: [person]"),
]
KINDS = ["email", "phone", "iban", "resident_id", "card", "public_ip", "secret", "person"]


def _last_line(capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, object]]:
    line = capsys.readouterr().err.strip().splitlines()[-1]
    return line, json.loads(line)


@pytest.mark.parametrize(("value", "redacted"), ENTITIES, ids=KINDS)
def test_structlog_event_and_fields_are_scrubbed_by_the_shield(
    capsys: pytest.CaptureFixture[str], value: str, redacted: str
) -> None:
    configure("INFO")
    structlog.get_logger("test").warning(
        f"refused {value}", note=f"from {value}", nested={"items": [value]}
    )
    line, record = _last_line(capsys)
    assert value not in line
    assert record["event"] == f"refused {redacted}"
    assert record["note"] == f"from {redacted}"
    assert record["nested"] == {"items": [redacted]}


@pytest.mark.parametrize(("value", "redacted"), ENTITIES, ids=KINDS)
def test_stdlib_message_arguments_extras_and_traceback_are_scrubbed(
    capsys: pytest.CaptureFixture[str], value: str, redacted: str
) -> None:
    configure("INFO")
    try:
        raise ValueError(f"cannot pay {value}")
    except ValueError:
        logging.getLogger("some.library").exception("declined %s", value, extra={"customer": value})
    line, record = _last_line(capsys)
    assert value not in line
    assert record["event"] == f"declined {redacted}"
    assert f"ValueError: cannot pay {redacted}" in str(record["exception"])


def test_every_handler_sees_the_record_scrubbed() -> None:
    """Not only payguard's handler: a record is scrubbed as it is made (message, arguments,
    traceback); its extra fields by payguard's handler's filter, which runs before the
    handlers added after it."""
    configure("INFO")
    seen: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(other)
    try:
        raise RuntimeError(f"for {EMAIL}")
    except RuntimeError:
        logging.getLogger("some.library").error(
            "mail to %s", EMAIL, extra={"customer": EMAIL}, exc_info=True
        )
    (record,) = seen
    assert record.getMessage() == "mail to [email]"
    assert record.customer == "[email]"  # type: ignore[attr-defined]
    assert record.exc_text is not None and "RuntimeError: for [email]" in record.exc_text
    assert EMAIL not in logging.Formatter().format(record)


def test_card_numbers_are_now_named_by_the_shield(capsys: pytest.CaptureFixture[str]) -> None:
    """The card recognizer replaced the card-only mask: any Luhn-valid number of 13-19
    digits in a log line, with or without a known scheme, becomes `[card]`."""
    configure("INFO")
    structlog.get_logger("test").info("charge", note="4111-1111-1111-1111 and 6011000990139424")
    line, record = _last_line(capsys)
    assert record["note"] == "[card] and [card]"
    assert "pan-redacted" not in line


def test_numbers_logged_as_integers_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO")
    structlog.get_logger("test").info("charge", amount=4111111111111111, attempt=3)
    _, record = _last_line(capsys)
    assert record["amount"] == "[card]"
    assert record["attempt"] == 3


def test_safe_keys_keys_and_tokens_survive(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO")
    structlog.get_logger("test").info(
        "assessment.done",
        assessment_id="asm_01J9ZQ3V7X",
        tenant_id="acme",
        status_code=201,
        duration_ms=3.25,
        note="paid with [card 411111******1111 token 0076151463631111] by " + EMAIL,
        host="127.0.0.1",
    )
    _, record = _last_line(capsys)
    assert record["assessment_id"] == "asm_01J9ZQ3V7X" and record["tenant_id"] == "acme"
    assert record["status_code"] == 201 and record["duration_ms"] == 3.25
    assert record["note"] == "paid with [card 411111******1111 token 0076151463631111] by [email]"
    assert record["host"] == "127.0.0.1"
