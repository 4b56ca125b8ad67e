"""A partner's own recognizers, from YAML, with no code:

    recognizers:
      - name: member_id            # unique; [a-z][a-z0-9_]{0,63}
        entity: custom             # an Entity value (not payguard_token); default custom
        patterns:
          - regex: "MBR-[0-9]{8}"
            score: 0.6             # 0-1
        context:                   # optional
          words: [member, 会员]
          window: 40               # characters before and after; 1-200
          boost: 0.35              # added to the score when a word is near; 0-1
        validator: none            # luhn | iban | mod97 | cn_ric_checksum | e164 | none
        threshold: 0.5             # this recognizer reports nothing under it

The document is read with `core.policyfile.load_mapping` (`yaml.SafeLoader`, at most
`MAX_SOURCE_BYTES`, nesting and alias-expansion bounds), then validated strictly: unknown
keys, wrong types and out-of-range values are refused with `ValidationFailed` naming the
field (`recognizers[2].patterns[0].score`).

Python's `re` has no timeout: a regex that backtracks catastrophically would hold a worker
for as long as it runs. So a partner's regex is bounded and screened before it is accepted:

- at most `MAX_REGEX_LENGTH` characters, `MAX_PATTERNS` patterns per recognizer and
  `MAX_RECOGNIZERS` recognizers per document;
- no backreferences (`\\1`, `(?P=name)`), and no repetition of something that itself
  repeats a variable number of times (`(a+)+`, `(\\w*\\s?)*`, `(?:x?y){2,9}`): the shapes
  that backtrack exponentially;
- a probe: the compiled regex is run over a few adversarial strings of `PROBE_LENGTH`
  characters and refused when it takes longer than `PROBE_BUDGET` seconds there (catches
  quadratic patterns such as `[a-z]+@` on a long run of letters).

The screen is a heuristic, not a proof (alternations whose branches overlap inside a
repetition, `(a|ab)+`, are not refused): partners' recognizers are operator configuration,
reviewed like code.
"""

from __future__ import annotations

import re
import re._parser as sre_parse  # type: ignore[import-not-found]  # the parse tree
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from payguard.core.errors import ValidationFailed, field_path
from payguard.core.policyfile import load_mapping
from payguard.shield.interfaces import Entity
from payguard.shield.recognizers.base import Context, Pattern, PatternRecognizer
from payguard.shield.recognizers.validators import VALIDATORS

__all__ = [
    "MAX_PATTERNS",
    "MAX_RECOGNIZERS",
    "MAX_REGEX_LENGTH",
    "MAX_SOURCE_BYTES",
    "RecognizerSpec",
    "load_recognizers",
]

MAX_SOURCE_BYTES = 64 * 1024
MAX_RECOGNIZERS = 50
MAX_PATTERNS = 10
MAX_REGEX_LENGTH = 256
MAX_CONTEXT_WORDS = 50
PROBE_LENGTH = 16384
PROBE_BUDGET = 0.1  # seconds for all probes of one regex; a linear one takes a few ms
_PROBES = tuple(
    seed * (PROBE_LENGTH // len(seed))
    for seed in ("a", "0", " ", "a@", "a.", "0-", "aA0_", "\u4e00", "a b ")
)

ValidatorName = Literal["luhn", "iban", "mod97", "cn_ric_checksum", "e164", "none"]
_ENTITIES = tuple(e.value for e in Entity if e is not Entity.PAYGUARD_TOKEN)


class PatternSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = "pattern"
    regex: Annotated[str, Field(min_length=1, max_length=MAX_REGEX_LENGTH)]
    score: Annotated[float, Field(ge=0.0, le=1.0)]


class ContextSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    words: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=40)]],
        Field(min_length=1, max_length=MAX_CONTEXT_WORDS),
    ]
    window: Annotated[int, Field(ge=1, le=200)] = 40
    boost: Annotated[float, Field(ge=0.0, le=1.0)] = 0.35


class RecognizerSpec(BaseModel):
    """One recognizer as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    entity: str = Entity.CUSTOM.value
    patterns: Annotated[list[PatternSpec], Field(min_length=1, max_length=MAX_PATTERNS)]
    context: ContextSpec | None = None
    validator: ValidatorName = "none"
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, value: str) -> str:
        if value not in _ENTITIES:
            raise ValueError(f"unknown entity {value[:32]!r}: one of {', '.join(_ENTITIES)}")
        return value


class RecognizersDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    description: Annotated[str, Field(max_length=2000)] = ""
    recognizers: Annotated[list[RecognizerSpec], Field(min_length=1, max_length=MAX_RECOGNIZERS)]


class _MaybeEmpty(RecognizersDocument):
    """A document that may define no recognizer (`recognizers: []`): a tenant's stored set."""

    recognizers: Annotated[list[RecognizerSpec], Field(max_length=MAX_RECOGNIZERS)]


def load_recognizers(
    source: str, *, allow_empty: bool = False, probe: bool = True
) -> list[PatternRecognizer]:
    """The recognizers a YAML document defines, validated and compiled; ValidationFailed
    (or PayloadTooLarge) naming the field at fault. `allow_empty` accepts `recognizers: []`;
    `probe=False` skips the timing probe (for a document screened before: a stored version,
    or a file the parent process checked), whose verdict depends on how busy the machine is."""
    if not isinstance(source, str):
        raise ValidationFailed("the recognizer file must be text (YAML)", field="recognizers")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(
            "the recognizer file must be valid Unicode text (no lone surrogates)",
            field="recognizers",
        ) from None
    document = load_mapping(
        source, name="recognizer file", field="recognizers", max_bytes=MAX_SOURCE_BYTES
    )
    try:
        spec = (_MaybeEmpty if allow_empty else RecognizersDocument).model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(
            first["msg"], field=field_path(first["loc"]) or "recognizers"
        ) from None
    seen: set[str] = set()
    built = []
    for index, recognizer in enumerate(spec.recognizers):
        if recognizer.name in seen:
            raise ValidationFailed(
                f"duplicate recognizer name {recognizer.name!r}", field=f"recognizers[{index}].name"
            )
        seen.add(recognizer.name)
        built.append(_build(recognizer, f"recognizers[{index}]", probe=probe))
    return built


def _build(spec: RecognizerSpec, field: str, *, probe: bool) -> PatternRecognizer:
    patterns = [
        Pattern(
            p.name,
            compile_regex(p.regex, field=f"{field}.patterns[{i}].regex", probe=probe),
            p.score,
        )
        for i, p in enumerate(spec.patterns)
    ]
    context = None
    if spec.context is not None:
        context = Context(tuple(spec.context.words), spec.context.window, spec.context.boost)
    return PatternRecognizer(
        name=spec.name,
        entity=Entity(spec.entity),
        patterns=patterns,
        context=context,
        validator=VALIDATORS[spec.validator],
        threshold=spec.threshold,
    )


def compile_regex(source: str, *, field: str, probe: bool = True) -> re.Pattern[str]:
    """A partner's regex, compiled after the screen the module docstring describes (the
    timing probe only with `probe`)."""
    if len(source) > MAX_REGEX_LENGTH:
        raise ValidationFailed(f"a regex has at most {MAX_REGEX_LENGTH} characters", field=field)
    try:
        tree = sre_parse.parse(source)
        regex = re.compile(source)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValidationFailed(f"not a valid regular expression: {exc}", field=field) from None
    problem = _backtracking_shape(tree.data, repeated=False)
    if problem:
        raise ValidationFailed(f"the regex is refused: {problem}", field=field)
    if regex.fullmatch("") is not None:
        raise ValidationFailed("the regex matches the empty string", field=field)
    if not probe:
        return regex
    started = time.perf_counter()
    for adversarial in _PROBES:
        for _ in regex.finditer(adversarial):
            pass
        if time.perf_counter() - started > PROBE_BUDGET:
            raise ValidationFailed(
                "the regex is refused: it is too slow on long repetitive input "
                "(it would make scanning quadratic or worse)",
                field=field,
            )
    return regex


_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT}


def _backtracking_shape(items: list[tuple[Any, Any]], *, repeated: bool) -> str:
    """Why the parsed regex `items` can backtrack exponentially, or ""; `repeated` says
    whether they sit inside a repetition of more than one."""
    for op, arg in items:
        if op in (sre_parse.GROUPREF, sre_parse.GROUPREF_EXISTS):
            return "backreferences are not allowed"
        children: list[Any] = []
        inner_repeated = repeated
        if op in _REPEATS:
            low, high, body = arg
            if repeated and low != high:
                return "a repetition inside a repetition (such as (a+)+) can backtrack forever"
            inner_repeated = repeated or high > 1
            children = [body]
        elif op is sre_parse.SUBPATTERN:
            children = [arg[-1]]
        elif op is sre_parse.BRANCH:
            children = list(arg[1])
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            children = [arg[1]]
        elif op is sre_parse.ATOMIC_GROUP:
            children = [arg]
        for child in children:
            data = child.data if hasattr(child, "data") else child
            problem = _backtracking_shape(data, repeated=inner_repeated)
            if problem:
                return problem
    return ""
