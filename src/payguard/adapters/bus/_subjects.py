"""Subject syntax shared by the bus adapters, so memory:// and nats:// accept the same names.

A subject is dot-separated tokens (`decision.made`). A subscription may use NATS wildcards:
`*` matches one part, `>` (last part only) matches one or more.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[^\s.*>]+")


def check_subject(subject: str, *, wildcards: bool) -> None:
    """Raise `ValueError` unless `subject` is a valid publish (or, with `wildcards`, subscribe)
    subject."""
    tokens = subject.split(".")
    for position, part in enumerate(tokens):
        if _TOKEN.fullmatch(part):
            continue
        if wildcards and (part == "*" or (part == ">" and position == len(tokens) - 1)):
            continue
        raise ValueError(
            f"invalid subject {subject!r}: dot-separated tokens without spaces"
            + (", '*' and a final '>' as wildcards" if wildcards else " or wildcards")
        )


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether `subject` is delivered to a subscription on `pattern`."""
    if pattern == subject:
        return True
    wanted = pattern.split(".")
    tokens = subject.split(".")
    for position, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > position
        if position >= len(tokens) or (part != "*" and part != tokens[position]):
            return False
    return len(tokens) == len(wanted)
