"""The log scrubber: the shield's detector behind every log line payguard writes.

`scrub_text` replaces each finding of `Scanner.default()` with `[<entity>]` (`[email]`,
`[card]`, ...) and each payguard API key with `pgk_[redacted]`; `scrub_value` walks a log
event's fields, redacting whatever sits under a sensitive key and leaving the values of
known-safe keys (ids, counts, levels) unscanned. `payguard.logconfig` runs it as a structlog
processor and on every standard-library log record. What it keeps, and why:

- payguard's own tokens (`tok_pan_...`, `[card 411111******1111 token ...]`): not personal
  data, and an operator needs them to follow a case;
- IP addresses that are not globally routable (loopback, private, link-local, unspecified,
  documentation ranges): the bind address, the database host, a proxy. They identify a
  machine of the deployment, not a person; a public address may identify a subscriber and is
  redacted like any other personal data.

Nothing here is cached: no text, finding or verdict outlives the call.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from payguard.shield.cues import may_hold_entity
from payguard.shield.interfaces import Entity, marked
from payguard.tenancy.interfaces import API_KEY

if TYPE_CHECKING:
    from payguard.shield.scanner import Scanner

__all__ = [
    "LOG_THRESHOLDS",
    "REDACTED",
    "SAFE_KEYS",
    "SENSITIVE_KEYS",
    "keeps_ip",
    "scrub_text",
    "scrub_value",
]

#: What a value under a sensitive key becomes.
REDACTED = "[redacted]"

#: Keys whose value is dropped whole, whatever it holds (a password of any shape).
SENSITIVE_KEYS = re.compile(
    r"(authorization|api_?key|secret|password|passwd|token|pan|card_?number|cvv|otp)", re.I
)

#: Keys whose values payguard fills with identifiers it made, numbers and log metadata,
#: never personal data: they are not scanned (a string, number, boolean or null under one
#: of them is written as it is; a list or dict is still scanned). `event` is not here: for a
#: library's log record it is the formatted message, which may quote anything.
SAFE_KEYS = frozenset(
    {
        # log metadata the processors add
        "level", "logger", "timestamp",
        # identifiers payguard generates
        "request_id", "assessment_id", "event_id", "tenant_id", "credential_id", "record_id",
        "key_id", "case_id", "alert_id", "export_id", "marker",
        # counts, durations, codes, names of payguard's own parts
        "pid", "exitcode", "replaces", "port", "attempt", "checked", "undelivered", "version",
        "status", "status_code", "duration_ms", "elapsed_ms", "count", "subject", "consumer",
        "durable", "namespace", "error_type", "sealed_by", "store", "method",
    }
)  # fmt: skip

#: Per-entity thresholds for logs: the scanner's defaults (0.5), except cards: a log line
#: has no card context to tell a card from an order number, so every Luhn-valid number of
#: 13-19 digits is redacted (0.35 is the score of one with no known scheme), as the log
#: mask before the shield did.
LOG_THRESHOLDS: Mapping[str, float] = {Entity.CARD: 0.35}

_PGK = "pgk_"

#: Integers below 7 digits cannot be any entity; beyond 40 digits, none is one (and `str()`
#: of a huge integer raises).
_INT_SMALL, _INT_HUGE = 10**6, 10**40

_scanner_instance: Scanner | None = None


def _scanner() -> Scanner:
    """The log scanner, built on first use (its import loads phonenumbers and python-stdnum,
    which a CLI command that logs nothing need not pay for). It holds recognizers, no data."""
    global _scanner_instance
    if _scanner_instance is None:
        from payguard.shield.scanner import Scanner

        _scanner_instance = Scanner.default(thresholds=LOG_THRESHOLDS)
    return _scanner_instance


def keeps_ip(text: str) -> bool:
    """Whether an IP address found in a log line is kept: it is not globally routable (an
    IPv4-mapped IPv6 address is judged by its IPv4 address)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global


def scrub_text(text: str) -> str:
    """`text` with every payguard API key as `pgk_[redacted]` and every finding of the
    shield's scanner as `[<entity>]`, except payguard tokens and non-global IP addresses."""
    if _PGK in text:
        text = API_KEY.sub("pgk_[redacted]", text)
    if not may_hold_entity(text):
        return text
    findings = _scanner().scan(text)
    if not findings:
        return text
    return marked(
        text,
        (
            f
            for f in findings
            if f.entity is not Entity.PAYGUARD_TOKEN
            and not (f.entity is Entity.IP_ADDRESS and keeps_ip(text[f.start : f.end]))
        ),
    )


def scrub_value(value: Any, key: str = "") -> Any:
    """A log field's value, scrubbed: `[redacted]` under a sensitive key, as it is under a
    safe key (scalars only), strings scrubbed, dicts and lists walked, integers of 7 or more
    digits scrubbed as text (a card number logged as a number), and any other object scrubbed
    as its `repr` (which is what the JSON renderer would write)."""
    if key:
        if SENSITIVE_KEYS.search(key):
            return REDACTED
        if key in SAFE_KEYS and (value is None or isinstance(value, str | int | float)):
            return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if not _INT_SMALL <= abs(value) < _INT_HUGE:
            return value
        text = str(value)
        scrubbed = scrub_text(text)
        return value if scrubbed == text else scrubbed
    if isinstance(value, dict):
        return {k: scrub_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return scrub_text(repr(value))
