"""structlog JSON logs with secrets and PII scrubbed before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from payguard.core.pan import redact_pans
from payguard.tenancy.interfaces import API_KEY

_SENSITIVE_KEYS = re.compile(
    r"(authorization|api_?key|secret|password|passwd|token|pan|card_?number|cvv|otp)", re.I
)


def _mask_text(text: str) -> str:
    return redact_pans(API_KEY.sub("pgk_[redacted]", text))


def scrub(value: Any, key: str = "") -> Any:
    """Redact values under sensitive keys, API keys and Luhn-valid card numbers anywhere."""
    if key and _SENSITIVE_KEYS.search(key):
        return "[redacted]"
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _scrub_processor(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: scrub(v, k) for k, v in event_dict.items()}


#: Loggers whose libraries may have given them handlers of their own.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured:
    a test runner or a CLI harness that swaps stderr and closes its stand-in afterwards
    must not leave the loggers writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr, for payguard's structlog loggers and for the standard-library
    loggers of the libraries underneath (uvicorn, Alembic, SQLAlchemy) and Python's warnings
    alike, tracebacks included, all scrubbed; call once at process start (each worker
    process calls it), and run uvicorn with `log_config=None` so it keeps them."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                stamp,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # A library's traceback (uvicorn's "Exception in ASGI application") becomes
                # text first, so that it is scrubbed like the rest.
                structlog.processors.format_exc_info,
                _scrub_processor,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Libraries that set up their own handlers (uvicorn's default `log_config` does) would
    # write past the JSON: send their records to the root's handler instead.
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
    logging.captureWarnings(True)
    # Alembic lists every plugin it loads at INFO on each start; its migrations still log.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            _scrub_processor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
