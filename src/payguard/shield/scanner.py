"""The scanner: runs a registry's recognizers over a text (normalised once), keeps the
findings at or above their entity's threshold, and resolves overlaps.

Overlaps are resolved in this order:

1. a `PAYGUARD_TOKEN` finding removes every other finding that overlaps it (a token is never
   personal data, whatever its digits look like);
2. among findings that overlap, the higher score wins, then the longer span, then the
   earlier start, then the recognizer name (so the result never depends on registry order).

`scan_document` walks a JSON document (dicts, lists, strings, integers) without recursion
and reports each finding with the JSONPath of the string it is in (`$.customer.phone`,
`$.items[0]`, `$['e-mail']`). The member's key is read as context for its value, so
`{"passport": "E12345678"}` is found like `passport: E12345678` in text; with `keys=True`
each key is scanned too.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

from payguard.core.errors import ValidationFailed
from payguard.shield.cues import may_hold_entity
from payguard.shield.interfaces import DocumentFinding, Entity, Finding, Recognizer, entity_of
from payguard.shield.normalize import normalize
from payguard.shield.registry import Registry

__all__ = ["DEFAULT_THRESHOLD", "Scanner", "json_path", "key_context"]

#: The score a finding needs to be reported, for entities the scanner is given no threshold.
DEFAULT_THRESHOLD = 0.5
_KEY_CONTEXT_MAX = 64
#: Integers with more digits than any identifier are not scanned (and `str()` of a huge
#: integer raises).
_INT_MAX = 10**34
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|_+")


def key_context(key: str | None) -> str:
    """How a member's key is read before its value: as a label, `key: `, with its words
    apart (`customerName` and `customer_name` both read `customer name: `),
    so context words and labels find their words in it. At most 64 characters of the key."""
    return f"{_CAMEL.sub(' ', key[:_KEY_CONTEXT_MAX]).strip()}: " if key else ""


def json_path(parts: Iterable[str | int]) -> str:
    """The JSONPath of a member: `$`, then `.key` for identifier-like keys, `['key']` for
    others (quotes and backslashes escaped), `[index]` for array items."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            path += f"['{escaped}']"
    return path


class Scanner:
    """Finds personal data in text and JSON documents with a registry's recognizers."""

    def __init__(
        self,
        registry: Registry | Iterable[Recognizer],
        *,
        thresholds: Mapping[Entity | str, float] | None = None,
        default_threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.registry = registry if isinstance(registry, Registry) else Registry(registry)
        if not 0.0 <= default_threshold <= 1.0:
            raise ValidationFailed("a threshold is between 0 and 1", field="default_threshold")
        self.thresholds: dict[Entity, float] = dict.fromkeys(Entity, default_threshold)
        for key, value in (thresholds or {}).items():
            entity = entity_of(key, f"thresholds.{key}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationFailed("a threshold is a number", field=f"thresholds.{key}")
            if not 0.0 <= value <= 1.0:
                raise ValidationFailed("a threshold is between 0 and 1", field=f"thresholds.{key}")
            self.thresholds[entity] = float(value)
        #: Every recognizer finds nothing in text without a cue (`may_hold_entity`): true of
        #: the built-in ones, not assumed of a partner's.
        self._cued = all(getattr(r, "cued", False) for r in self.registry)

    @classmethod
    def default(cls, *, thresholds: Mapping[Entity | str, float] | None = None) -> Scanner:
        """A scanner of every built-in recognizer."""
        return cls(Registry.builtin(), thresholds=thresholds)

    def scan(self, text: str) -> list[Finding]:
        """Every finding in `text`, sorted by start; offsets are into `text` as given."""
        if self._cued and not may_hold_entity(text):
            return []
        return self._scan(text, "")

    def scan_document(self, document: Any, *, keys: bool = False) -> list[DocumentFinding]:
        """Every finding in the strings (and integers) of a JSON document, in document order,
        each with its JSONPath. Floats, booleans, null and integers of more than 34 digits
        are not scanned. With `keys`, each member's key is scanned too, before its value
        (`DocumentFinding.in_key`): a map keyed by phone numbers or e-mail addresses."""
        found: list[DocumentFinding] = []
        # (path segments, value, whether `value` is the key that ends the segments)
        stack: list[tuple[tuple[str | int, ...], Any, bool]] = [((), document, False)]
        while stack:
            parts, value, is_key = stack.pop()
            if is_key:
                findings = self.scan(value)
            elif isinstance(value, dict):
                for k, v in reversed(value.items()):
                    member = (*parts, str(k))
                    stack.append((member, v, False))
                    if keys:
                        stack.append((member, str(k), True))
                continue
            elif isinstance(value, list | tuple):
                stack.extend(((*parts, i), v, False) for i, v in reversed(list(enumerate(value))))
                continue
            elif isinstance(value, str) or (
                isinstance(value, int) and not isinstance(value, bool) and abs(value) < _INT_MAX
            ):
                key = parts[-1] if parts and isinstance(parts[-1], str) else ""
                text = str(value)
                findings = self._scan(text, key_context(key)) if key else self.scan(text)
            else:
                continue
            if findings:
                path = json_path(parts)
                found.extend(DocumentFinding(path, f, is_key, parts) for f in findings)
        return found

    def _scan(self, text: str, prefix: str) -> list[Finding]:
        """The findings of `text`, read after `prefix` (context only: findings in it are
        dropped, offsets are into `text`)."""
        shift = len(prefix)
        normalized = normalize(prefix + text if prefix else text)
        thresholds = self.thresholds
        kept: list[Finding] = []
        tokens: list[Finding] = []
        for recognizer in self.registry:
            for finding in recognizer.find(normalized):
                if finding.start < shift or finding.score < thresholds[finding.entity]:
                    continue
                if shift:
                    finding = Finding(
                        finding.start - shift,
                        finding.end - shift,
                        finding.entity,
                        finding.score,
                        finding.recognizer,
                    )
                (tokens if finding.entity is Entity.PAYGUARD_TOKEN else kept).append(finding)
        if tokens:
            tokens = _resolve(tokens)
            ends = [token.end for token in tokens]
            kept = [f for f in kept if not _overlaps_any(tokens, ends, f)] + tokens
        return _resolve(kept)


def _rank(finding: Finding) -> tuple[float, int, int, str]:
    return (-finding.score, finding.start - finding.end, finding.start, finding.recognizer)


def _resolve(findings: list[Finding]) -> list[Finding]:
    """Non-overlapping findings, sorted by start: within each cluster of overlapping
    findings, the best-ranked first, then the best of those that overlap nothing chosen."""
    findings.sort(key=lambda f: (f.start, f.end))
    resolved: list[Finding] = []
    cluster: list[Finding] = []
    reach = -1
    for finding in findings:
        if cluster and finding.start >= reach:
            resolved.extend(_choose(cluster))
            cluster = []
        cluster.append(finding)
        reach = max(reach, finding.end) if len(cluster) > 1 else finding.end
    if cluster:
        resolved.extend(_choose(cluster))
    return resolved


def _choose(cluster: list[Finding]) -> list[Finding]:
    if len(cluster) == 1:
        return cluster
    chosen: list[Finding] = []
    for finding in sorted(cluster, key=_rank):
        if all(finding.end <= c.start or c.end <= finding.start for c in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


def _overlaps_any(spans: list[Finding], ends: list[int], finding: Finding) -> bool:
    """Whether `finding` overlaps one of `spans` (sorted, not overlapping; `ends` theirs)."""
    index = bisect_left(ends, finding.start + 1)
    return index < len(spans) and spans[index].start < finding.end
