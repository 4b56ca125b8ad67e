"""The pieces every recognizer is built from: context words, regular-expression patterns with
a score each, and the base class that turns candidates into scored findings.

A recognizer reads *normalised* text (`shield.normalize`: full-width and other look-alike
characters folded to ASCII, one for one); the scanner normalises once and hands the same text
to each. Each recognizer yields candidates with a base score; context words found within
`Context.window` characters before or after a candidate raise its score by `Context.boost`
(capped at 1). Recognizers of things that look like many other things (bank accounts,
passports, dates of birth, high-entropy strings) are `context_only`: they report a candidate
only near a context word, and look for candidates only there.

Every built-in pattern is linear in the text: no nested quantifier that can match the same
characters two ways, and every repetition that is followed by a condition bounded, so a
failed match costs a constant amount of work per start position. Patterns do not start
with a lookbehind (which stops `re` from skipping ahead to the first character a pattern
can start with); `matches` checks the character before a match instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import string
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import lru_cache

from payguard.shield.interfaces import Entity, Finding

__all__ = [
    "ALNUM",
    "BaseRecognizer",
    "Context",
    "ContextHits",
    "Pattern",
    "PatternRecognizer",
    "digest_cached",
    "matches",
    "trie_regex",
]

#: Default reach of context words, in characters either side of a candidate.
CONTEXT_WINDOW = 40
#: Default rise in score when a context word is near.
CONTEXT_BOOST = 0.35


#: The key of `digest_cached`'s digests: random per process, never stored.
_CACHE_KEY = os.urandom(16)


def digest_cached(maxsize: int) -> Callable[[Callable[[str], bool]], Callable[[str], bool]]:
    """Remember a text check's answers for at most `maxsize` texts, keyed by a keyed BLAKE2b
    digest of the text rather than the text: validators see phone numbers and the like, and
    a cache of their texts would keep personal data in memory long after the scan (an
    `lru_cache` would). Oldest out first."""

    def decorate(check: Callable[[str], bool]) -> Callable[[str], bool]:
        answers: dict[bytes, bool] = {}

        def cached(text: str) -> bool:
            digest = hashlib.blake2b(
                text.encode("utf-8", "surrogatepass"), key=_CACHE_KEY, digest_size=16
            ).digest()
            answer = answers.get(digest)
            if answer is None:
                answer = check(text)
                if len(answers) >= maxsize:
                    # Another thread may have evicted it first.
                    with suppress(StopIteration, KeyError, RuntimeError):
                        del answers[next(iter(answers))]
                answers[digest] = answer
            return answer

        cached.__doc__ = check.__doc__
        cached.__name__ = check.__name__
        return cached

    return decorate


def trie_regex(words: set[str]) -> str:
    """An alternation of the literal `words` factored by their common prefixes
    (`A(?:l(?:ley|y)|nnex)`): the regex engine tries each branch of a flat alternation in
    turn wherever one may start, a trie once. At one position the longest word matches
    (a word that ends where another goes on makes the rest optional, greedily)."""
    groups: dict[str, set[str]] = {}
    for word in words:
        if word:
            groups.setdefault(word[0], set()).add(word[1:])
    branches = [re.escape(first) + trie_regex(tails) for first, tails in sorted(groups.items())]
    if not branches:
        return ""
    alternation = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    if "" not in words:
        return alternation
    return f"(?:{alternation})?" if len(branches) == 1 else f"{alternation}?"


@lru_cache(maxsize=2)
def _lowered(text: str) -> str | None:
    """`text` in lower case when that keeps every offset (almost always; `İ` is one of the
    few characters whose lower case is longer), else None. Cached: every recognizer with
    context words asks for the same text."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else None


def _bounded(text: str, start: int, end: int) -> bool:
    """Whether `text[start:end]` stands as a whole word: an ASCII letter or digit at either
    end must not continue into another (`key` is not a word of `monkey`; Chinese words,
    which have no spaces between them, always stand)."""
    if text[start].isascii() and text[start].isalnum() and start > 0:
        before = text[start - 1]
        if before.isascii() and before.isalnum():
            return False
    if text[end - 1].isascii() and text[end - 1].isalnum() and end < len(text):
        after = text[end]
        if after.isascii() and after.isalnum():
            return False
    return True


@dataclass(frozen=True, slots=True)
class Context:
    """Words that make a candidate nearby more likely to be what the recognizer thinks.
    Matched case-insensitively, ASCII words whole (`key` is not in `monkey`), CJK words
    anywhere (Chinese has no spaces between words)."""

    words: tuple[str, ...]
    window: int = CONTEXT_WINDOW
    boost: float = CONTEXT_BOOST
    #: Only a word *before* the candidate, with no digit between the two, counts (a label:
    #: `账号: 6222...`), for values that look like every other number on the line.
    label: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    folded: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A trie: at one position "account number" is preferred to "account".
        words = {w.strip().lower() for w in self.words if w.strip()}
        alternation = trie_regex(words) if words else r"(?!)"
        object.__setattr__(self, "regex", re.compile(alternation))
        object.__setattr__(self, "folded", re.compile(alternation, re.IGNORECASE))

    def hits(self, text: str) -> ContextHits:
        return ContextHits(self, text)


class ContextHits:
    """Where one recognizer's context words occur in one text: found on the first question,
    in one pass over the lower-cased text, then each question is a binary search."""

    __slots__ = ("_context", "_ends", "_starts", "_text")

    _DIGIT = re.compile("[0-9]")

    def __init__(self, context: Context, text: str) -> None:
        self._context = context
        self._text = text
        self._starts: list[int] | None = None
        self._ends: list[int] = []

    def _find(self) -> list[int]:
        text = self._text
        lowered = _lowered(text)
        matches = (
            self._context.regex.finditer(lowered)
            if lowered is not None
            else self._context.folded.finditer(text)
        )
        starts: list[int] = []
        for match in matches:
            start, end = match.span()
            if _bounded(text, start, end):
                starts.append(start)
                self._ends.append(end)
        return starts

    def near(self, start: int, end: int) -> bool:
        """Whether a context word lies within the window before `start` or after `end`."""
        if self._starts is None:
            self._starts = self._find()
        window = self._context.window
        index = bisect_left(self._ends, start - window)
        if not self._context.label:
            return index < len(self._starts) and self._starts[index] <= end + window
        # The last word ending before the candidate, and nothing numeric in between.
        last = bisect_left(self._ends, start + 1) - 1
        return (
            last >= index
            and last >= 0
            and self._DIGIT.search(self._text, self._ends[last], start) is None
        )

    def windows(self, margin: int) -> list[tuple[int, int]]:
        """The stretches of text within `margin` characters of a context word, merged."""
        if self._starts is None:
            self._starts = self._find()
        merged: list[tuple[int, int]] = []
        for start, end in zip(self._starts, self._ends, strict=True):
            low, high = max(0, start - margin), min(len(self._text), end + margin)
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return merged


#: Characters that may not stand right before a number or an identifier.
ALNUM = frozenset(string.ascii_letters + string.digits)


def matches(
    regex: re.Pattern[str], text: str, start: int, end: int, not_after: frozenset[str]
) -> Iterator[re.Match[str]]:
    """The matches of `regex` in `text[start:end]` that do not start right after one of the
    characters `not_after`. The same as a leading negative lookbehind, which would stop
    `re` from skipping ahead to where the pattern's first character occurs (several times
    slower); a rejected match is searched again from its second character."""
    search = regex.search
    position = start
    while True:
        match = search(text, position, end)
        if match is None:
            return
        found = match.start()
        if found > 0 and text[found - 1] in not_after:
            position = found + 1
            continue
        yield match
        position = max(match.end(), found + 1)


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regular expression and the base score of what it matches. `group` names the part
    of the match that is the entity (0: all of it), for patterns that include a label."""

    name: str
    regex: re.Pattern[str]
    score: float
    group: int | str = 0


Candidate = tuple[int, int, float]


class BaseRecognizer:
    """A recognizer of one entity: subclasses yield candidates `(start, end, base score)`;
    this class applies the context boost and builds the findings."""

    name: str = ""
    entity: Entity = Entity.SECRET
    context: Context | None = None
    #: Candidates are findings only near a context word: they are looked for only there
    #: (so the rest of the text costs nothing), within `longest` characters of the window.
    context_only: bool = False
    longest: int = 64
    #: This recognizer finds nothing in text without a cue (`scanner.may_hold_entity`), so
    #: the scanner may skip such text: true of every built-in one (a test checks it).
    cued: bool = True

    @property
    def entities(self) -> frozenset[Entity]:
        return frozenset({self.entity})

    def candidates(self, text: str, start: int, end: int) -> Iterable[Candidate]:
        """The candidates that start in `text[start:end]` (a pattern may look before
        `start`, never past `end`)."""
        raise NotImplementedError

    def find(self, text: str) -> Iterator[Finding]:
        context = self.context
        if context is None:
            for start, end, score in self.candidates(text, 0, len(text)):
                yield Finding(start, end, self.entity, score, self.name)
            return
        hits = context.hits(text)
        spans = (
            hits.windows(context.window + self.longest) if self.context_only else [(0, len(text))]
        )
        for low, high in spans:
            for start, end, score in self.candidates(text, low, high):
                if hits.near(start, end):
                    score = round(min(1.0, score + context.boost), 4)
                elif self.context_only:
                    continue
                yield Finding(start, end, self.entity, score, self.name)


class PatternRecognizer(BaseRecognizer):
    """A recognizer made of patterns, an optional validator (which sees the matched text and
    drops what fails) and optional context words: the shape YAML recognizers take
    (`shield.custom`), and several built-in ones."""

    def __init__(
        self,
        *,
        name: str,
        entity: Entity,
        patterns: Sequence[Pattern],
        context: Context | None = None,
        validator: Callable[[str], bool] | None = None,
        threshold: float = 0.0,
    ) -> None:
        self.name = name
        self.entity = entity
        #: A partner's patterns may match anything: never skipped.
        self.cued = False
        self.patterns = tuple(patterns)
        self.context = context
        self.validator = validator
        #: Findings under this score are not reported by this recognizer (YAML `threshold`);
        #: the scanner's per-entity threshold applies on top.
        self.threshold = threshold

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for pattern in self.patterns:
            for match in pattern.regex.finditer(text, start, end):
                low, high = match.span(pattern.group)
                if low >= high:
                    continue
                if self.validator is not None and not self.validator(text[low:high]):
                    continue
                yield low, high, pattern.score

    def find(self, text: str) -> Iterator[Finding]:
        for finding in super().find(text):
            if finding.score >= self.threshold:
                yield finding
