"""Redaction: what a policy does with each entity the scanner finds.

A `RedactionPolicy` names an `Action` per entity type (`DEFAULT_ACTIONS` for those it leaves
out) and, optionally, a score threshold per entity. A `Redactor` applies it to text, to
several texts, to JSON documents and to single values (a column's cell):

- `mask` keeps the shape and hides most characters: a card's first 6 and last 4, a phone's
  country code and last 2-4 digits, an email's first character and domain, an IPv4
  address's first three octets (`192.0.2.x`) or an IPv6 address's /48; anything else its
  last 4 when it has 8 characters or more, else all `*`.
- `hash` is `h:` and the first 16 hex digits of HMAC-SHA-256 under the tenant's key, of the
  value in a canonical form (digits of a card, the address of an email in lower case): the
  same value, the same hash within a tenant; another tenant's differ.
- `tokenize` is the vault's token for the value (`VAULT_KINDS` maps entity to vault kind):
  deterministic, so the same value gets the same pseudonym in every document. The tokens
  one call needs are asked for in one batch per kind. A value the vault refuses (a phone
  it cannot read as E.164, a generic value over 256 characters) is redacted instead and
  counted in `Tally.refused`.
- `redact` writes `[<entity>]`; `generalize` makes a birth date its year and an amount
  (a number with no entity) a power-of-ten band (`100-999`), an age a ten-year band
  (`30-39`); what it cannot generalise is redacted. `keep` leaves the value.

The redactor is a plain object over injected callables (the vault's tokenizer, the hash
key), so the file mode, tests and benchmarks build one without a database;
`shield.service.PrivacyService.redactor` builds a tenant's.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import phonenumbers

from payguard.core.errors import ValidationFailed
from payguard.core.pan import mask_pan
from payguard.shield.interfaces import (
    Action,
    DocumentFinding,
    Entity,
    Finding,
    Redacted,
    entity_of,
)
from payguard.shield.normalize import normalize
from payguard.shield.scanner import Scanner

__all__ = [
    "DEFAULT_ACTIONS",
    "HASH_PURPOSE",
    "MAX_POLICY_BYTES",
    "TOKEN_BATCH",
    "VAULT_KINDS",
    "HashKey",
    "RedactedDocument",
    "RedactionPolicy",
    "Redactor",
    "Tally",
    "Tokenize",
]

#: What each entity gets when a policy does not say.
DEFAULT_ACTIONS: Mapping[Entity, Action] = {
    Entity.CARD: Action.TOKENIZE,
    Entity.IBAN: Action.TOKENIZE,
    Entity.BANK_ACCOUNT: Action.TOKENIZE,
    Entity.CN_RESIDENT_ID: Action.TOKENIZE,
    Entity.PHONE: Action.MASK,
    Entity.EMAIL: Action.MASK,
    Entity.IP_ADDRESS: Action.MASK,
    Entity.PASSPORT: Action.REDACT,
    Entity.PERSON: Action.REDACT,
    Entity.ADDRESS: Action.REDACT,
    Entity.DATE_OF_BIRTH: Action.GENERALIZE,
    Entity.SECRET: Action.REDACT,
    Entity.PAYGUARD_TOKEN: Action.KEEP,
    Entity.CUSTOM: Action.REDACT,
}

#: The vault kind (`vault.kinds.Kind`) each entity is tokenized as.
VAULT_KINDS: Mapping[Entity, str] = {
    Entity.CARD: "pan",
    Entity.IBAN: "account",
    Entity.BANK_ACCOUNT: "account",
    Entity.PHONE: "phone",
    Entity.CN_RESIDENT_ID: "id_number",
    Entity.EMAIL: "email",
}
_GENERIC_KIND = "generic"

#: The keyring purpose of a tenant's hashing key.
HASH_PURPOSE = "shield:hash"
#: The most values one call of the tokenizer is given (`vault.service.MAX_VALUES`).
TOKEN_BATCH = 1000
#: The largest policy document `RedactionPolicy.from_json` reads, in bytes.
MAX_POLICY_BYTES = 64 * 1024

#: The vault's tokenizer: a kind and values, a token for each value in order (None for a
#: value the vault refuses).
Tokenize = Callable[[str, Sequence[str]], Sequence[str | None]]
#: The tenant's hashing key, or how to get it (called once, when first needed).
HashKey = bytes | Callable[[], bytes]

_HASH_LABEL = b"payguard/shield/hash/v1\x00"
_HASH_HEX = 16
_POLICY_PARTS = ("entities", "thresholds")
_QUOTED = 32
_NUMBER = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?")
_YEAR = re.compile(r"(?<![0-9])(1[89][0-9]{2}|20[0-9]{2})(?![0-9])")
_MAX_AGE = 150
Generalize = Literal["amount", "age"]


# -- the policy -----------------------------------------------------------------------------


def _action(value: object, at: str) -> Action:
    try:
        return Action(value) if isinstance(value, str) else Action("")
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise ValidationFailed(f"unknown action: one of {known}", field=at) from None


def _object(value: object, at: str) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"'{at}' is an object", field=at)
    return value


@dataclass(frozen=True, slots=True)
class RedactionPolicy:
    """An action per entity type (`DEFAULT_ACTIONS` for the rest) and optional score
    thresholds per entity (a finding under its entity's threshold is left as it is)."""

    actions: Mapping[Entity, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    thresholds: Mapping[Entity, float] = field(default_factory=dict)

    @classmethod
    def default(cls) -> RedactionPolicy:
        return cls()

    @classmethod
    def from_dict(cls, data: object, *, field: str = "policy") -> RedactionPolicy:
        """A policy from `{"entities": {entity: action}, "thresholds": {entity: 0-1}}` (both
        optional), checked strictly: an unknown part, entity or action, a threshold that is
        not a number from 0 to 1, is a ValidationFailed naming it (`policy.entities.card`)."""
        given = _object(data, field)
        for key in given:
            if key not in _POLICY_PARTS:
                raise ValidationFailed(
                    f"unknown field {str(key)[:_QUOTED]!r}: a policy has 'entities' and "
                    "'thresholds'",
                    field=f"{field}.{str(key)[:_QUOTED]}",
                )
        actions = dict(DEFAULT_ACTIONS)
        entities = given.get("entities")
        if entities is not None:
            for key, value in _object(entities, f"{field}.entities").items():
                at = f"{field}.entities.{str(key)[:_QUOTED]}"
                actions[entity_of(key, at)] = _action(value, at)
        thresholds: dict[Entity, float] = {}
        scores = given.get("thresholds")
        if scores is not None:
            for key, value in _object(scores, f"{field}.thresholds").items():
                at = f"{field}.thresholds.{str(key)[:_QUOTED]}"
                entity = entity_of(key, at)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValidationFailed("a threshold is a number from 0 to 1", field=at)
                if not 0.0 <= value <= 1.0:  # NaN fails this too
                    raise ValidationFailed("a threshold is a number from 0 to 1", field=at)
                thresholds[entity] = float(value)
        return cls(actions, thresholds)

    @classmethod
    def from_json(cls, text: str | bytes, *, field: str = "policy") -> RedactionPolicy:
        """A policy from a JSON document (at most 64 KiB; see `from_dict`)."""
        if len(text) > MAX_POLICY_BYTES:
            raise ValidationFailed(f"a policy is at most {MAX_POLICY_BYTES} bytes", field=field)
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise ValidationFailed("the policy is not valid JSON", field=field) from None
        return cls.from_dict(data, field=field)

    def action_for(self, entity: Entity) -> Action:
        return self.actions.get(entity, DEFAULT_ACTIONS[entity])

    def to_dict(self) -> dict[str, Any]:
        """The policy as `from_dict` reads it."""
        return {
            "entities": {e.value: self.action_for(e).value for e in Entity},
            "thresholds": {e.value: t for e, t in self.thresholds.items()},
        }


# -- what was done --------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What a redactor did: how many values of each entity got each action (the action
    applied: a value the vault refused counts as `redact`), and how many the vault refused
    per entity. Counts only, never values, so a tally can be logged and audited."""

    applied: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def add(self, entity: str, action: Action) -> None:
        self.applied[(entity, action.value)] += 1

    def by_entity(self) -> dict[str, dict[str, int]]:
        """`{entity: {action: count}}`."""
        out: dict[str, dict[str, int]] = {}
        for (entity, action), count in sorted(self.applied.items()):
            out.setdefault(entity, {})[action] = count
        return out

    @property
    def total(self) -> int:
        return sum(self.applied.values())


@dataclass(frozen=True, slots=True)
class RedactedDocument:
    """A JSON document after redaction (a copy: the one given is not changed), and what
    was found in it before (offsets into the original strings)."""

    document: Any
    findings: tuple[DocumentFinding, ...]


# -- the redactor ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    """A value waiting for its token: the vault kind and value, and the finding's entity."""

    kind: str
    value: str
    entity: Entity | None

    @property
    def name(self) -> str:
        return self.entity.value if self.entity is not None else "value"


_Piece = str | _Pending


class Redactor:
    """Applies a `RedactionPolicy` to what a `Scanner` finds (see the module docstring).

    `tokenize(kind, values)` is the vault's tokenizer for one tenant and `hash_key` that
    tenant's hashing key (or a callable giving it, called once when first needed).
    `tally` counts what was done across every call (`Tally`)."""

    def __init__(
        self,
        scanner: Scanner,
        policy: RedactionPolicy | None = None,
        *,
        tokenize: Tokenize,
        hash_key: HashKey,
        token_batch: int = TOKEN_BATCH,
    ) -> None:
        self.scanner = scanner
        self.policy = policy if policy is not None else RedactionPolicy()
        self.tally = Tally()
        self._tokenize = tokenize
        self._hash_key = hash_key
        self._batch = max(1, token_batch)

    # -- text ---------------------------------------------------------------------------

    def redact_text(self, text: str) -> Redacted:
        """`text` with every finding replaced by its entity's action."""
        return self.redact_texts([text])[0]

    def redact_texts(self, texts: Iterable[str]) -> list[Redacted]:
        """Each text redacted, the tokens of all of them asked for in one batch per kind."""
        planned: list[tuple[list[_Piece], tuple[Finding, ...]]] = []
        for text in texts:
            findings = tuple(self._kept(self.scanner.scan(text)))
            planned.append((self._plan(text, findings), findings))
        tokens = self._tokens(piece for pieces, _ in planned for piece in pieces)
        return [Redacted(self._render(pieces, tokens), findings) for pieces, findings in planned]

    # -- JSON documents -----------------------------------------------------------------

    def redact_document(self, document: Any) -> RedactedDocument:
        """A copy of a JSON document with every finding in its strings (and integers) and
        in its keys replaced; tokens asked for in one batch per kind. An integer with a
        finding in it becomes a string. A key whose replacement another key of the same
        object has already taken gets `#2`, `#3`, ... after it, so no member is lost."""
        found = [
            f for f in self.scanner.scan_document(document, keys=True) if self._keeps(f.finding)
        ]
        by_place: dict[_Place, list[Finding]] = {}
        for item in found:
            by_place.setdefault((item.location, item.in_key), []).append(item.finding)
        plans = {
            place: self._plan(_text_at(document, place), findings)
            for place, findings in by_place.items()
        }
        tokens = self._tokens(piece for pieces in plans.values() for piece in pieces)
        rendered = {place: self._render(pieces, tokens) for place, pieces in plans.items()}
        return RedactedDocument(_rebuild(document, rendered), tuple(found))

    # -- one value ----------------------------------------------------------------------

    def redact_value(
        self,
        value: object,
        action: Action,
        entity: Entity | None = None,
        *,
        generalize_as: Generalize | None = None,
    ) -> object:
        """One value (a column's cell, a JSON member) under `action`, whatever it holds:
        None stays None; a list or object is read as its JSON text (sorted keys) for every
        action but `keep` and `redact`. `entity` says what the value is when known. With
        `generalize`, a number (or numeric text) with no entity is an amount, banded by
        powers of ten, unless `generalize_as="age"` (ten-year bands)."""
        action = Action(action)
        if value is None or action is Action.KEEP:
            return value
        name = entity.value if entity is not None else "value"
        if action is Action.REDACT:
            self.tally.add(name, Action.REDACT)
            return _marker(entity)
        if action is Action.GENERALIZE:
            general = self._generalize_value(value, entity, generalize_as)
            if general is None:
                self.tally.add(name, Action.REDACT)
                return _marker(entity)
            self.tally.add(name, Action.GENERALIZE)
            return general
        text = _text_of(value)
        if action is Action.TOKENIZE:
            pending = _pending(text, entity, None)
            return self._token_text(pending, self._tokens([pending]))
        self.tally.add(name, action)
        if action is Action.HASH:
            return self._hash(text, entity)
        return _mask(text, entity, None)

    # -- internals ----------------------------------------------------------------------

    def _keeps(self, finding: Finding) -> bool:
        threshold = self.policy.thresholds.get(finding.entity)
        return threshold is None or finding.score >= threshold

    def _kept(self, findings: Iterable[Finding]) -> Iterable[Finding]:
        if not self.policy.thresholds:
            return findings
        return (f for f in findings if self._keeps(f))

    def _plan(self, text: str, findings: Iterable[Finding]) -> list[_Piece]:
        """`text` as pieces: the text between findings and, for each finding, its
        replacement or the token it waits for. Findings are sorted and never overlap
        (the scanner's promise), so each offset is applied to the original text."""
        pieces: list[_Piece] = []
        at = 0
        for finding in findings:
            if finding.start < at:  # never from the scanner; refuse rather than garble
                raise ValueError("overlapping findings")
            pieces.append(text[at : finding.start])
            pieces.append(self._replacement(text[finding.start : finding.end], finding))
            at = finding.end
        pieces.append(text[at:])
        return pieces

    def _replacement(self, found: str, finding: Finding) -> _Piece:
        entity = finding.entity
        action = self.policy.action_for(entity)
        if action is Action.TOKENIZE:
            return _pending(found, entity, finding.recognizer)
        if action is Action.KEEP:
            self.tally.add(entity.value, action)
            return found
        if action is Action.GENERALIZE:
            general = _generalize_entity(found, entity)
            if general is None:
                self.tally.add(entity.value, Action.REDACT)
                return _marker(entity)
            self.tally.add(entity.value, action)
            return general
        self.tally.add(entity.value, action)
        if action is Action.MASK:
            return _mask(found, entity, finding.recognizer)
        if action is Action.HASH:
            return self._hash(found, entity)
        return _marker(entity)

    def _tokens(self, pieces: Iterable[_Piece]) -> dict[tuple[str, str], str | None]:
        """The token of every pending value: one call per kind (per `token_batch` values),
        each distinct value asked for once."""
        wanted: dict[str, dict[str, None]] = {}
        for piece in pieces:
            if isinstance(piece, _Pending) and piece.value:
                wanted.setdefault(piece.kind, {})[piece.value] = None
        tokens: dict[tuple[str, str], str | None] = {}
        for kind, values in wanted.items():
            ordered = list(values)
            for start in range(0, len(ordered), self._batch):
                chunk = ordered[start : start + self._batch]
                made = list(self._tokenize(kind, chunk))
                if len(made) != len(chunk):
                    raise ValueError("the tokenizer answered a different number of tokens")
                tokens.update(((kind, v), t) for v, t in zip(chunk, made, strict=True))
        return tokens

    def _token_text(self, pending: _Pending, tokens: Mapping[tuple[str, str], str | None]) -> str:
        token = tokens.get((pending.kind, pending.value))
        if token is None:
            self.tally.refused[pending.name] += 1
            self.tally.add(pending.name, Action.REDACT)
            return _marker(pending.entity)
        self.tally.add(pending.name, Action.TOKENIZE)
        return token

    def _render(
        self, pieces: Sequence[_Piece], tokens: Mapping[tuple[str, str], str | None]
    ) -> str:
        return "".join(
            self._token_text(piece, tokens) if isinstance(piece, _Pending) else piece
            for piece in pieces
        )

    def _key(self) -> bytes:
        if callable(self._hash_key):
            self._hash_key = self._hash_key()
        return self._hash_key

    def _hash(self, value: str, entity: Entity | None) -> str:
        digest = hmac.new(
            self._key(), _HASH_LABEL + _canonical(value, entity).encode(), hashlib.sha256
        ).hexdigest()
        return "h:" + digest[:_HASH_HEX]

    def _generalize_value(
        self, value: object, entity: Entity | None, how: Generalize | None
    ) -> str | None:
        if entity is not None:
            return _generalize_entity(_text_of(value), entity)
        number = _number(value)
        if number is None:
            return None
        if how == "age":
            return _age_band(number)
        return _amount_band(number)


# -- actions on one value -------------------------------------------------------------------


def _marker(entity: Entity | None) -> str:
    return f"[{entity.value if entity is not None else 'redacted'}]"


def _text_of(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def _alnum(value: str) -> str:
    return "".join(c for c in normalize(value) if c.isascii() and c.isalnum()).upper()


def _digits(value: str) -> str:
    return "".join(c for c in normalize(value) if "0" <= c <= "9")


def _phone(value: str, recognizer: str | None) -> phonenumbers.PhoneNumber | None:
    text = normalize(value).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    region = None if text.startswith("+") else ("US" if recognizer == "intl_phone" else "CN")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def _pending(found: str, entity: Entity | None, recognizer: str | None) -> _Pending:
    """What the vault is asked to tokenize for a found value: its kind's canonical form
    where the shield can give one (the vault checks it again and may refuse it)."""
    kind = VAULT_KINDS.get(entity, _GENERIC_KIND) if entity is not None else _GENERIC_KIND
    if kind == "pan":
        value = _digits(found)
    elif kind in ("account", "id_number"):
        value = _alnum(found)
    elif kind == "phone":
        number = _phone(found, recognizer)
        value = (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if number is not None
            else normalize(found)
        )
    elif kind == "email":
        value = normalize(found).strip()
    else:
        value = found
    return _Pending(kind, value, entity)


def _canonical(value: str, entity: Entity | None) -> str:
    """The form a value is hashed in: the same value written differently (spaces in a card
    number, full-width digits, an email's case), the same hash."""
    if entity in (Entity.CARD, Entity.PHONE):
        return _digits(value)
    if entity in (Entity.IBAN, Entity.BANK_ACCOUNT, Entity.CN_RESIDENT_ID, Entity.PASSPORT):
        return _alnum(value)
    if entity is Entity.EMAIL:
        return normalize(value).strip().lower()
    if entity is Entity.IP_ADDRESS:
        try:
            return str(ipaddress.ip_address(normalize(value).strip()))
        except ValueError:
            return value
    return value


def _mask_generic(value: str) -> str:
    if len(value) >= 8:
        return "*" * (len(value) - 4) + value[-4:]
    return "*" * len(value)


def _mask(value: str, entity: Entity | None, recognizer: str | None) -> str:
    if entity is Entity.CARD:
        digits = _digits(value)
        if 13 <= len(digits) <= 19:
            return mask_pan(digits)
    elif entity is Entity.PHONE:
        number = _phone(value, recognizer)
        if number is not None:
            national = phonenumbers.national_significant_number(number)
            keep = 4 if len(national) >= 8 else 2 if len(national) >= 5 else 0
            shown = national[len(national) - keep :] if keep else ""
            return f"+{number.country_code}{'*' * (len(national) - keep)}{shown}"
        digits = _digits(value)
        keep = 4 if len(digits) >= 8 else 2 if len(digits) >= 5 else 0
        return "*" * (len(digits) - keep) + (digits[len(digits) - keep :] if keep else "")
    elif entity is Entity.EMAIL:
        local, at, domain = value.rpartition("@")
        if at and local and domain:
            return f"{local[0]}***@{domain}"
    elif entity is Entity.IP_ADDRESS:
        try:
            address = ipaddress.ip_address(normalize(value).strip())
        except ValueError:
            pass
        else:
            if isinstance(address, ipaddress.IPv4Address):
                return str(address).rsplit(".", 1)[0] + ".x"
            return str(ipaddress.ip_network(f"{address}/48", strict=False))
    return _mask_generic(value)


def _generalize_entity(value: str, entity: Entity) -> str | None:
    """A birth date's year; None (so: redact) for anything else."""
    if entity is not Entity.DATE_OF_BIRTH:
        return None
    text = normalize(value)
    year = _YEAR.search(text)
    return year.group(1) if year is not None else None


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = normalize(value).strip().replace(",", "")
        if _NUMBER.fullmatch(text):
            try:
                return Decimal(text)
            except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
                return None
    return None


def _amount_band(number: Decimal) -> str:
    """`0-9`, `10-99`, `100-999`, ...; a negative amount `-999--100`."""
    magnitude = int(abs(number))
    low = 0 if magnitude < 10 else 10 ** (len(str(magnitude)) - 1)
    high = 9 if low == 0 else low * 10 - 1
    return f"-{high}--{low}" if number < 0 and magnitude else f"{low}-{high}"


def _age_band(number: Decimal) -> str | None:
    if number < 0 or number > _MAX_AGE:
        return None
    low = int(number) // 10 * 10
    return f"{low}-{low + 9}"


# -- documents ------------------------------------------------------------------------------


#: A place in a document: the path's segments, and whether the text is the last key
#: itself (True) or the value there (False).
_Place = tuple[tuple[str | int, ...], bool]


def _text_at(document: Any, place: _Place) -> str:
    """The text at a place the scanner reported."""
    parts, in_key = place
    if in_key:
        return str(parts[-1])
    value = document
    for part in parts:
        value = value[part]
    return str(value)


def _rebuild(document: Any, rendered: Mapping[_Place, str]) -> Any:
    """A copy of `document` with the texts at `rendered`'s places replaced, keys included
    (iteratively: any depth)."""
    root: list[Any] = [None]
    # (container to fill, its key or index, the value, the value's path parts)
    stack: list[tuple[Any, Any, Any, tuple[str | int, ...]]] = [(root, 0, document, ())]
    while stack:
        into, slot, value, parts = stack.pop()
        if isinstance(value, dict):
            copy: dict[str, Any] = {}
            into[slot] = copy
            for key, item in value.items():
                member = (*parts, str(key))
                name = rendered.get((member, True), key) if rendered else key
                if name in copy:
                    number = 2
                    while f"{name}#{number}" in copy:
                        number += 1
                    name = f"{name}#{number}"
                copy[name] = None
                stack.append((copy, name, item, member))
        elif isinstance(value, list | tuple):
            items: list[Any] = [None] * len(value)
            into[slot] = items
            stack.extend((items, i, item, (*parts, i)) for i, item in enumerate(value))
        elif rendered and (
            isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        ):
            into[slot] = rendered.get((parts, False), value)
        else:
            into[slot] = value
    return root[0]
