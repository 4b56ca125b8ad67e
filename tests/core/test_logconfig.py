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
    yield
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
