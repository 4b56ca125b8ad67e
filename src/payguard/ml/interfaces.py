"""The model registry port: versioned models per tenant, which one acts and which one shadows.

A tenant's models are numbered 1, 2, 3... as they are registered. Each has a status:

- `candidate`: registered, not serving (the status of every new version);
- `champion`: scores every event and acts (at most one per tenant);
- `shadow`: scores every event beside the champion; its score is stored, never acted on
  (at most one per tenant);
- `retired`: was the champion until another version was promoted.

Promoting a version makes it the champion and retires the previous one; promoting the shadow
also empties the shadow slot. Errors: `NotFound` (unknown version in the tenant),
`ValidationFailed` (a change the state machine refuses, e.g. the champion as its own shadow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from payguard.risk.models.artifact import ModelArtifact


class ModelStatus(StrEnum):
    CANDIDATE = "candidate"
    CHAMPION = "champion"
    SHADOW = "shadow"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """A registered version without its blobs (the ONNX graph and the booster): what
    listings, the API and the serving poll read."""

    tenant_id: str
    version: int
    created_at: datetime
    created_by: str
    status: ModelStatus
    trained_at: datetime
    data_hash: str
    columns: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A registered version with everything needed to serve it."""

    tenant_id: str
    version: int
    created_at: datetime
    created_by: str
    status: ModelStatus
    artifact: ModelArtifact

    @property
    def summary(self) -> ModelSummary:
        return ModelSummary(
            tenant_id=self.tenant_id,
            version=self.version,
            created_at=self.created_at,
            created_by=self.created_by,
            status=self.status,
            trained_at=self.artifact.trained_at,
            data_hash=self.artifact.data_hash,
            columns=len(self.artifact.columns),
            metrics=self.artifact.metrics,
        )


class ModelRegistry(Protocol):
    """Storage of model versions and their serving state, per tenant."""

    def add(
        self, tenant_id: str, artifact: ModelArtifact, created_at: datetime, created_by: str
    ) -> ModelRecord:
        """Store `artifact` as the tenant's next version, a candidate."""
        ...

    def get(self, tenant_id: str, version: int) -> ModelRecord | None: ...

    def latest(self, tenant_id: str) -> ModelRecord | None:
        """The highest version, whatever its status."""
        ...

    def list(self, tenant_id: str) -> list[ModelSummary]:
        """Every version, newest first, without blobs."""
        ...

    def describe(self, tenant_id: str, version: int) -> ModelSummary | None:
        """One version without its blobs."""
        ...

    def promote(self, tenant_id: str, version: int) -> ModelSummary:
        """Make `version` the champion; the previous champion is retired and, if `version`
        was the shadow, the shadow slot is emptied. Promoting the champion changes nothing.
        `NotFound` if the tenant has no such version."""
        ...

    def set_shadow(self, tenant_id: str, version: int | None) -> ModelSummary | None:
        """Make `version` the shadow (None: no shadow); the previous shadow goes back to
        candidate. `NotFound` for an unknown version, `ValidationFailed` for the champion.
        Returns the new shadow."""
        ...

    def serving(self, tenant_id: str) -> tuple[ModelSummary | None, ModelSummary | None]:
        """(champion, shadow), without blobs."""
        ...

    def state_version(self, tenant_id: str) -> int:
        """Increases on every change to the tenant's models (0: never changed); cheap to
        poll."""
        ...
