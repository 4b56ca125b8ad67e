"""The privacy service behind `/v1/privacy`: scans and redacts a tenant's text and JSON
documents, with the tenant's hashing key and vault tokens, and audits every call (counts
only, never a value).

It reaches the vault through two narrow ports declared here (the root hands it the keyring
and the token service): `DataKeys` for the hashing key (`shield:hash`) and `Tokenizing` for
deterministic tokens. `check` is the vault's own value check (`vault.kinds.canonical`):
values it refuses are redacted without asking the token service, so one refused value
never costs a batch.

A tenant's own recognizers (`shield.stored.StoredRecognizers`, when the root hands them in)
run beside the built-in ones in every scan and redaction for that tenant; the `entities`
filter applies to them too. They are compiled once per (tenant, version), never per request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.errors import ValidationFailed
from payguard.shield.interfaces import DocumentFinding, Entity, Finding, Recognizer, marked
from payguard.shield.recognizers import builtin
from payguard.shield.redact import (
    HASH_PURPOSE,
    RedactedDocument,
    RedactionPolicy,
    Redactor,
    Tally,
)
from payguard.shield.registry import Registry
from payguard.shield.scanner import Scanner, json_path
from payguard.shield.stored import StoredRecognizers

__all__ = [
    "MAX_TOKEN_RETRIES",
    "DataKeys",
    "IssuedToken",
    "PrivacyService",
    "RedactResult",
    "ScanResult",
    "Tokenizing",
]

#: How often one batch is re-sent without a value the token service refused (past the
#: value check) before the rest of the batch is redacted instead.
MAX_TOKEN_RETRIES = 4
_REFUSED_INDEX = re.compile(r"values\[([0-9]+)\]\Z")


class DataKeys(Protocol):
    """The keyring, as the shield uses it: a tenant's current data key for a purpose."""

    def data_key(self, tenant_id: str, purpose: str) -> tuple[int, bytes]: ...


class IssuedToken(Protocol):
    @property
    def token(self) -> str: ...


class Tokenizing(Protocol):
    """The vault's token service, as the shield uses it: tokens for values of one kind (the
    tenant's default style), audited as `token:create`."""

    def tokenize(
        self, tenant_id: str, kind: str, values: Sequence[str], *, actor: Actor
    ) -> Sequence[IssuedToken]: ...


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan found: in text (`findings`) or in a document (`document_findings`)."""

    findings: tuple[Finding, ...] = ()
    document_findings: tuple[DocumentFinding, ...] = ()


@dataclass(frozen=True, slots=True)
class RedactResult:
    """A redacted text or document, and what was done (`Tally`)."""

    text: str | None
    document: Any
    tally: Tally
    found: int


class PrivacyService:
    """Scan and redact for a tenant (see the module docstring)."""

    def __init__(
        self,
        keys: DataKeys,
        tokens: Tokenizing,
        *,
        audit: AuditWriter,
        check: Callable[[str, str], object] | None = None,
        recognizers: StoredRecognizers | None = None,
    ) -> None:
        self._keys = keys
        self._tokens = tokens
        self._audit = audit
        self._check = check
        self._recognizers = recognizers

    # -- building blocks ----------------------------------------------------------------

    @staticmethod
    def scanner(
        *,
        entities: Collection[Entity] | None = None,
        thresholds: Mapping[Entity | str, float] | None = None,
        custom: Iterable[Recognizer] = (),
    ) -> Scanner:
        """A scanner of the built-in recognizers and `custom` ones (a tenant's own): those
        that find one of `entities` (and payguard tokens, which still mask look-alikes) when
        given. Cheap: the recognizers' regexes are compiled already."""
        recognizers = [*builtin(), *custom]
        if entities is not None:
            wanted = set(entities) | {Entity.PAYGUARD_TOKEN}
            recognizers = [r for r in recognizers if r.entities & wanted]
        return Scanner(Registry(recognizers), thresholds=thresholds)

    def custom_recognizers(self, tenant_id: str) -> tuple[Recognizer, ...]:
        """The tenant's own recognizers in force (none without a store)."""
        if self._recognizers is None:
            return ()
        return self._recognizers.active(tenant_id).recognizers

    def redactor(
        self,
        tenant_id: str,
        policy: RedactionPolicy | None,
        actor: Actor,
        *,
        custom: Sequence[Recognizer] | None = None,
    ) -> Redactor:
        """A redactor for the tenant: its hashing key from the keyring (fetched when first
        needed), its deterministic vault tokens, made as `actor`, and its own recognizers
        (or `custom` instead, when given: the CLI's `--recognizers` file)."""
        policy = policy if policy is not None else RedactionPolicy()
        thresholds: dict[Entity | str, float] = {e: t for e, t in policy.thresholds.items()}
        own = self.custom_recognizers(tenant_id) if custom is None else custom
        return Redactor(
            self.scanner(thresholds=thresholds, custom=own),
            policy,
            tokenize=lambda kind, values: self._tokenize(tenant_id, kind, values, actor),
            hash_key=lambda: self._keys.data_key(tenant_id, HASH_PURPOSE)[1],
        )

    def _tokenize(
        self, tenant_id: str, kind: str, values: Sequence[str], actor: Actor
    ) -> list[str | None]:
        """A token for each value, None where the vault refuses it."""
        out: list[str | None] = [None] * len(values)
        pending = list(range(len(values)))
        if self._check is not None:
            pending = [i for i in pending if self._passes(kind, values[i])]
        for _ in range(MAX_TOKEN_RETRIES + 1):
            if not pending:
                break
            try:
                made = self._tokens.tokenize(
                    tenant_id, kind, [values[i] for i in pending], actor=actor
                )
            except ValidationFailed as error:
                refused = _REFUSED_INDEX.fullmatch(error.field or "")
                if refused is None or int(refused.group(1)) >= len(pending):
                    break  # the batch as a whole (a style the policy forbids): all redacted
                del pending[int(refused.group(1))]
                continue
            for index, token in zip(pending, made, strict=True):
                out[index] = token.token
            break
        return out

    def _passes(self, kind: str, value: str) -> bool:
        assert self._check is not None
        try:
            self._check(kind, value)
        except ValidationFailed:
            return False
        return True

    # -- the API's operations -----------------------------------------------------------

    def scan(
        self,
        tenant_id: str,
        *,
        text: str | None = None,
        document: Any = None,
        entities: Collection[Entity] | None = None,
        thresholds: Mapping[Entity | str, float] | None = None,
        actor: Actor,
    ) -> ScanResult:
        """Findings in `text` or `document` (exactly one), with the built-in recognizers and
        the tenant's own, audited as `privacy:scan`."""
        scanner = self.scanner(
            entities=entities, thresholds=thresholds, custom=self.custom_recognizers(tenant_id)
        )
        wanted = None if entities is None else frozenset(entities)
        if text is not None:
            findings = tuple(f for f in scanner.scan(text) if wanted is None or f.entity in wanted)
            result = ScanResult(findings=findings)
            counted = Counter(f.entity.value for f in findings)
        else:
            found = _keys_hidden(
                [
                    f
                    for f in scanner.scan_document(document, keys=True)
                    if wanted is None or f.finding.entity in wanted
                ]
            )
            result = ScanResult(document_findings=found)
            counted = Counter(f.finding.entity.value for f in found)
        self._audit.success(
            AuditAction.PRIVACY_SCAN,
            actor,
            "privacy:text" if text is not None else "privacy:document",
            tenant_id=tenant_id,
            details={"findings": sum(counted.values()), "entities": dict(sorted(counted.items()))},
        )
        return result

    def redact(
        self,
        tenant_id: str,
        *,
        text: str | None = None,
        document: Any = None,
        policy: RedactionPolicy | None = None,
        actor: Actor,
    ) -> RedactResult:
        """`text` or `document` (exactly one) redacted under `policy` (the default one if
        None), audited as `privacy:redact` with the counts per entity and action."""
        redactor = self.redactor(tenant_id, policy, actor)
        if text is not None:
            done = redactor.redact_text(text)
            result = RedactResult(done.text, None, redactor.tally, len(done.findings))
        else:
            redacted: RedactedDocument = redactor.redact_document(document)
            result = RedactResult(None, redacted.document, redactor.tally, len(redacted.findings))
        self._audit.success(
            AuditAction.PRIVACY_REDACT,
            actor,
            "privacy:text" if text is not None else "privacy:document",
            tenant_id=tenant_id,
            details={
                "findings": result.found,
                "counts": result.tally.by_entity(),
                "vault_refused": dict(sorted(result.tally.refused.items())),
            },
        )
        return result


def _keys_hidden(found: list[DocumentFinding]) -> tuple[DocumentFinding, ...]:
    """The findings with their paths written without the personal data in keys: a key that
    holds a finding is shown with each finding as `[<entity>]` (`$.contacts['[phone]']`),
    in its own findings' paths and in those of everything under it."""
    shown: dict[tuple[str | int, ...], str] = {}
    spans: dict[tuple[str | int, ...], list[Finding]] = {}
    for item in found:
        if item.in_key:
            spans.setdefault(item.location, []).append(item.finding)
    for location, findings in spans.items():
        shown[location] = marked(str(location[-1]), sorted(findings, key=lambda f: f.start))
    if not shown:
        return tuple(found)
    out = []
    for item in found:
        parts = [
            shown.get(item.location[: index + 1], part) if isinstance(part, str) else part
            for index, part in enumerate(item.location)
        ]
        out.append(replace(item, path=json_path(parts)))
    return tuple(out)
