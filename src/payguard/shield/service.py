"""The privacy service behind `/v1/privacy`: scans and redacts a tenant's text and JSON
documents, with the tenant's hashing key and vault tokens, and audits every call (counts
only, never a value).

It reaches the vault through two narrow ports declared here (the root hands it the keyring
and the token service): `DataKeys` for the hashing key (`shield:hash`) and `Tokenizing` for
deterministic tokens. `check` is the vault's own value check (`vault.kinds.canonical`):
values it refuses are redacted without asking the token service, so one refused value
never costs a batch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.errors import ValidationFailed
from payguard.shield.interfaces import DocumentFinding, Entity, Finding
from payguard.shield.redact import (
    HASH_PURPOSE,
    RedactedDocument,
    RedactionPolicy,
    Redactor,
    Tally,
)
from payguard.shield.registry import Registry
from payguard.shield.scanner import Scanner

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
    ) -> None:
        self._keys = keys
        self._tokens = tokens
        self._audit = audit
        self._check = check

    # -- building blocks ----------------------------------------------------------------

    @staticmethod
    def scanner(
        *,
        entities: Collection[Entity] | None = None,
        thresholds: Mapping[Entity | str, float] | None = None,
    ) -> Scanner:
        """A scanner of the built-in recognizers: those that find one of `entities` (and
        payguard tokens, which still mask look-alikes) when given."""
        registry = Registry.builtin()
        if entities is not None:
            wanted = set(entities) | {Entity.PAYGUARD_TOKEN}
            registry = Registry(r for r in registry if r.entities & wanted)
        return Scanner(registry, thresholds=thresholds)

    def redactor(self, tenant_id: str, policy: RedactionPolicy | None, actor: Actor) -> Redactor:
        """A redactor for the tenant: its hashing key from the keyring (fetched when first
        needed) and its deterministic vault tokens, made as `actor`."""
        policy = policy if policy is not None else RedactionPolicy()
        thresholds: dict[Entity | str, float] = {e: t for e, t in policy.thresholds.items()}
        return Redactor(
            self.scanner(thresholds=thresholds),
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
        """Findings in `text` or `document` (exactly one), audited as `privacy:scan`."""
        scanner = self.scanner(entities=entities, thresholds=thresholds)
        wanted = None if entities is None else frozenset(entities)
        if text is not None:
            findings = tuple(f for f in scanner.scan(text) if wanted is None or f.entity in wanted)
            result = ScanResult(findings=findings)
            counted = Counter(f.entity.value for f in findings)
        else:
            found = tuple(
                f
                for f in scanner.scan_document(document)
                if wanted is None or f.finding.entity in wanted
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
