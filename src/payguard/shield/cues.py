"""Cues: what text must have for a built-in recognizer to find anything in it, so the
scanner (and the log scrubber, which must not load the recognizers to ask) can skip text
that has none. Light on purpose: no recognizer is imported here."""

from __future__ import annotations

import re

__all__ = ["may_hold_entity"]

#: What text holding an entity a built-in recognizer finds always has: a digit (any
#: script), an `@`, a `:` or `=` (labels, IPv6), anything outside ASCII (Chinese labels,
#: names and addresses; full-width forms), a title before a name (`Mr`, `Dr`), a payguard
#: token's `tok_`, or a known secret's prefix (`sk_live_`, `ghp_`, `xoxb-`, `AKIA`, `eyJ`,
#: `PRIVATE KEY`); or else a run of 20 or more key-like characters with a capital letter in
#: it (a secret).
_CUE = re.compile(
    r"[\d@:=]|[^\x00-\x7f]|tok_|PRIVATE KEY|(?:sk|rk|pk)_(?:live|test)_|gh[pousr]_"
    r"|github_pat_|xox[abposr]-|AIza|AKIA|ASIA|eyJ"
    r"|(?<![A-Za-z])(?:Mr|Mrs|Ms|Miss|Dr|Prof)(?![a-z])"
)
_KEYISH_RUN = re.compile(r"[A-Za-z+/_\-]{20,}")


def may_hold_entity(text: str) -> bool:
    """Whether `text` may hold an entity a built-in recognizer finds (`_CUE`): text without
    a cue is not scanned (event names, statuses, `snake_case` keys). A partner's recognizer
    may match anything, so a scanner with one scans every text."""
    if _CUE.search(text) is not None:
        return True
    return any(not run.islower() for run in _KEYISH_RUN.findall(text))
