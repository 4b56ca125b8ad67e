"""A tenant's own recognizers, stored: the YAML document of `shield.custom`, kept as versions
1, 2, 3... per tenant, the highest in force for the tenant's scans and redactions.

An admin replaces the set (`PUT /v1/privacy/recognizers`, `payguard shield recognizers set`);
`StoredRecognizers.set` validates the document first (`check_recognizers`: the strict schema,
the ReDoS screen, no name of a built-in recognizer) and stores nothing when it is refused.
`recognizers: []` is a valid document: the tenant then has none of its own.

`StoredRecognizers.active` serves the set in force, compiled once per (tenant, version) and
held for `ttl` seconds before the version is checked again, so a change made by another
process is seen within `ttl`, and at once in the process that made it.

A stored version was screened when it was stored. It is compiled again (`compile_checked`)
with the same schema but without the timing probe, whose verdict depends on how busy the
machine is: a regex accepted once is never refused later because a worker was loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.clock import Clock
from payguard.core.errors import PayguardError, ValidationFailed
from payguard.core.ttlcache import TenantCache
from payguard.shield.custom import (
    load_recognizers,
)
from payguard.shield.interfaces import Entity, RecognizerRepository
from payguard.shield.recognizers import builtin
from payguard.shield.recognizers.base import PatternRecognizer

__all__ = [
    "ActiveRecognizers",
    "StoredRecognizers",
    "builtin_names",
    "builtin_recognizers",
    "check_recognizers",
    "compile_checked",
]


@cache
def builtin_recognizers() -> tuple[tuple[str, tuple[Entity, ...]], ...]:
    """Each built-in recognizer's name and the entities it finds, in the scanner's order."""
    return tuple((recognizer.name, tuple(sorted(recognizer.entities))) for recognizer in builtin())


def builtin_names() -> frozenset[str]:
    """The names of the built-in recognizers, which a partner's may not take."""
    return frozenset(name for name, _ in builtin_recognizers())


def check_recognizers(source: str) -> list[PatternRecognizer]:
    """The recognizers the YAML document `source` defines, validated and compiled as
    `shield.custom.load_recognizers` does (ValidationFailed or PayloadTooLarge naming the
    field), with two differences: `recognizers: []` is accepted (none), and a name of a
    built-in recognizer is refused (`recognizers[i].name`)."""
    loaded = load_recognizers(source, allow_empty=True)
    taken = builtin_names()
    for index, recognizer in enumerate(loaded):
        if recognizer.name in taken:
            raise ValidationFailed(
                f"{recognizer.name!r} is the name of a built-in recognizer: choose another",
                field=f"recognizers[{index}].name",
            )
    return loaded


def compile_checked(source: str) -> list[PatternRecognizer]:
    """The recognizers of a document that `check_recognizers` accepted before (a stored
    version, or a file the parent process checked), compiled without the timing probe."""
    return load_recognizers(source, allow_empty=True, probe=False)


@dataclass(frozen=True, slots=True)
class ActiveRecognizers:
    """A tenant's own recognizers in force, compiled: the version (0: none ever stored), the
    YAML source as stored, when and by whom."""

    recognizers: tuple[PatternRecognizer, ...] = ()
    version: int = 0
    source: str = ""
    created_at: datetime | None = None
    created_by: str | None = None

    @property
    def names(self) -> list[str]:
        return [recognizer.name for recognizer in self.recognizers]


_NONE = ActiveRecognizers()


class StoredRecognizers:
    """Tenants' stored, versioned recognizers (see the module docstring): `set` validates,
    stores and audits a new version; `active` serves the one in force."""

    def __init__(
        self,
        repository: RecognizerRepository,
        *,
        audit: AuditWriter,
        clock: Clock,
        ttl: float = 5.0,
        cache_size: int = 1024,
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._clock = clock
        # tenant -> the set compiled for its version (fresh: the version checked lately)
        self._cache: TenantCache[ActiveRecognizers] = TenantCache(clock, ttl=ttl, size=cache_size)

    def active(self, tenant_id: str) -> ActiveRecognizers:
        """The tenant's recognizers in force (the version checked again after `ttl` seconds;
        compiled only when it changed)."""
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[1]:
            return cached[0]
        version = self._repository.current_version(tenant_id)
        if cached is not None and cached[0].version == version:
            active = cached[0]
        elif version == 0:
            active = _NONE
        else:
            stored = self._repository.get(tenant_id, version)
            if stored is None:  # versions are never deleted; a store that lost one
                stored = self._repository.current(tenant_id)
            if stored is None:
                active = _NONE
            else:
                active = ActiveRecognizers(
                    tuple(_stored_set(stored.document, stored.version)),
                    stored.version,
                    stored.document,
                    stored.created_at,
                    stored.created_by,
                )
        self._cache.put(tenant_id, active)
        return active

    def forget(self) -> None:
        """Drop every cached set (each is read and compiled again on next use)."""
        self._cache.clear()

    def set(self, tenant_id: str, source: str, actor: Actor) -> ActiveRecognizers:
        """Validate the YAML document `source` (`check_recognizers`), store it as the
        tenant's next version and put it in force (here at once; elsewhere within `ttl`).
        Audited, refused or not; nothing is stored when it is refused."""
        try:
            loaded = check_recognizers(source)
        except PayguardError as exc:
            self._audit.failure(
                AuditAction.PRIVACY_RECOGNIZERS,
                actor,
                "privacy_recognizers",
                tenant_id=tenant_id,
                details={"error": exc.message, "field": getattr(exc, "field", None)},
            )
            raise
        stored = self._repository.add(tenant_id, source, self._clock.now(), actor.name)
        active = ActiveRecognizers(
            tuple(loaded), stored.version, stored.document, stored.created_at, stored.created_by
        )
        self._cache.put(tenant_id, active)
        self._audit.success(
            AuditAction.PRIVACY_RECOGNIZERS,
            actor,
            f"privacy_recognizers:v{stored.version}",
            tenant_id=tenant_id,
            details={
                "version": stored.version,
                "count": len(loaded),
                "recognizers": {r.name: r.entity.value for r in loaded},
            },
        )
        return active


def _stored_set(source: str, version: int) -> list[PatternRecognizer]:
    try:
        return compile_checked(source)
    except PayguardError as exc:  # accepted when stored; a later release reads it otherwise
        raise ValidationFailed(
            f"the tenant's recognizers (version {version}) no longer load ({exc.message}): "
            "store them again",
            field="recognizers",
        ) from None
