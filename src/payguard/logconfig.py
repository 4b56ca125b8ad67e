"""structlog JSON logs with secrets and PII scrubbed before anything is written.

The one scrubber is the Data Shield's (`payguard.shield.logscrub`): personal data the
shield's scanner finds becomes `[<entity>]` (`[email]`, `[card]`, `[phone]`, ...), payguard
API keys `pgk_[redacted]`, values under sensitive keys `[redacted]`. It runs as a structlog
processor on payguard's own events and, for the standard library's records (uvicorn,
Alembic, SQLAlchemy, warnings), when each record is made (message, arguments, traceback) and
in a filter on payguard's handler (extra fields), so that any handler sees a scrubbed record.
It is always on.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

from payguard.shield.logscrub import scrub_text, scrub_value

__all__ = ["ScrubFilter", "configure", "scrub", "scrub_record"]

#: A log event's value, scrubbed (`shield.logscrub.scrub_value`).
scrub = scrub_value


#: An event-dict entry naming the fields already scrubbed on the standard-library record.
_DONE = "_payguard_scrubbed_fields"


def _scrub_processor(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    done = event_dict.pop(_DONE, ())
    return {k: v if k in done else scrub_value(v, k) for k, v in event_dict.items()}


def _take_scrubbed_record(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A standard-library record was scrubbed when it was made: take its message and its
    formatted traceback as they are, rather than format and scan them a second time."""
    record = event_dict.get("_record")
    if not getattr(record, _SCRUBBED, False):
        return event_dict
    done = ["event"]
    if event_dict.get("exc_info") and getattr(record, "exc_text", None):
        del event_dict["exc_info"]
        event_dict["exception"] = record.exc_text  # type: ignore[union-attr]
        done.append("exception")
    if "stack_info" in event_dict:
        done.append("stack_info")
    event_dict[_DONE] = tuple(done)
    return event_dict


#: The attributes every `LogRecord` has; any other is an `extra` field.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
#: Set on a record whose message, arguments and traceback are scrubbed.
_SCRUBBED = "_payguard_scrubbed"


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub a standard-library record in place: its message (formatted with its arguments,
    which are then dropped), its traceback and stack (formatted now, into `exc_text` and
    `stack_info`) and its extra fields. The exception stays on the record (`exc_info`), so
    that handlers still know there was one; they write the scrubbed `exc_text`."""
    if not getattr(record, _SCRUBBED, False):
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, scrubbed
            message = f"{record.msg} {record.args!r}"
        record.msg = scrub_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        setattr(record, _SCRUBBED, True)
    for name, value in list(vars(record).items()):
        if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
            setattr(record, name, scrub_value(value, name))


class ScrubFilter(logging.Filter):
    """Scrubs each record in place (`scrub_record`) and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def _install_scrubbing_record_factory() -> None:
    """Records are scrubbed as they are made, before any handler (a test runner's capture,
    a library's own) sees them; extra fields are set after that, and payguard's handler's
    filter scrubs those."""
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(previous, _SCRUBBED, False):
        return

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub_record(record)
        return record

    setattr(make, _SCRUBBED, True)
    logging.setLogRecordFactory(make)


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
    _install_scrubbing_record_factory()
    scrub_text("warm-up 0")  # loads the scanner's recognizers now, not on a request
    handler = logging.StreamHandler(_CurrentStderr())
    handler.addFilter(ScrubFilter())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                stamp,
                _take_scrubbed_record,
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
