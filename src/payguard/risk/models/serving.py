"""Which model serves each tenant, in each worker: the registry's champion and shadow, loaded
once per version and re-checked by polling the registry's change counter.

A promotion made through this worker shows at once (`invalidate`); one made through another
worker or the CLI shows within the poll TTL (`PAYGUARD_CACHE_TTL_SECONDS`, the same as rule
sets and lists). Loading a version (its ONNX session and reason-code tables) happens once per
worker, on the first event after the change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from payguard.risk.cache import PolledCache
from payguard.risk.interfaces import NO_MODELS, Explainer, Scorer, ServingModels
from payguard.risk.models.artifact import ModelArtifact
from payguard.risk.models.null import NullScorer
from payguard.risk.models.onnx import OnnxScorer

log = structlog.get_logger(__name__)


class _Version(Protocol):
    @property
    def version(self) -> int: ...


class _Stored(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def artifact(self) -> ModelArtifact: ...


class ModelCatalog(Protocol):
    """What serving needs of the model registry (`payguard.ml.interfaces.ModelRegistry`)."""

    def state_version(self, tenant_id: str) -> int: ...

    def serving(self, tenant_id: str) -> tuple[_Version | None, _Version | None]: ...

    def get(self, tenant_id: str, version: int) -> _Stored | None: ...


#: Builds the scorer of a stored version; `explain` for the champion, not for the shadow.
ScorerFactory = Callable[[ModelArtifact, int, bool], OnnxScorer]


def _onnx(artifact: ModelArtifact, version: int, explain: bool) -> OnnxScorer:
    return OnnxScorer(artifact, version, explain=explain)


class ModelScorers:
    """`ModelSource` over the model registry."""

    def __init__(
        self,
        catalog: ModelCatalog,
        *,
        ttl: float,
        timer: Callable[[], float] = time.monotonic,
        factory: ScorerFactory = _onnx,
    ) -> None:
        self._catalog = catalog
        self._factory = factory
        self._lock = threading.Lock()
        #: Loaded scorers by (tenant, version, explains): kept while they serve.
        self._loaded: dict[tuple[str, int, bool], OnnxScorer | None] = {}
        self._cache: PolledCache[ServingModels] = PolledCache(
            ttl=ttl, version=catalog.state_version, load=self._load, timer=timer
        )

    def for_tenant(self, tenant_id: str) -> ServingModels:
        return self._cache.get(tenant_id)

    def invalidate(self, tenant_id: str) -> None:
        """Re-read the tenant's serving models on its next event (after a change here)."""
        self._cache.invalidate(tenant_id)

    def _load(self, tenant_id: str, state: int) -> ServingModels:
        if state == 0:  # the tenant never registered a model
            return NO_MODELS
        champion, shadow = self._catalog.serving(tenant_id)
        wanted: list[tuple[str, int, bool]] = []
        if champion is not None:
            wanted.append((tenant_id, champion.version, True))
        if shadow is not None:
            wanted.append((tenant_id, shadow.version, False))
        scorers = [self._scorer(key) for key in wanted]
        with self._lock:
            for key in [k for k in self._loaded if k[0] == tenant_id and k not in wanted]:
                del self._loaded[key]
        served = iter(scorers)
        acting = next(served) if champion is not None else None
        shadowing = next(served) if shadow is not None else None
        if acting is None and shadowing is None:
            return NO_MODELS
        return ServingModels(champion=acting, shadow=shadowing, explainer=acting)

    def _scorer(self, key: tuple[str, int, bool]) -> OnnxScorer | None:
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
        tenant_id, version, explain = key
        scorer: OnnxScorer | None = None
        stored = self._catalog.get(tenant_id, version)
        if stored is not None:
            try:
                scorer = self._factory(stored.artifact, version, explain)
            except Exception:
                # A version that cannot be loaded serves nothing (the rules still decide)
                # until the registry changes; it is not retried on every event.
                log.exception("model.load_failed", tenant_id=tenant_id, version=version)
        with self._lock:
            self._loaded[key] = scorer
        return scorer


class StaticModels:
    """`ModelSource` serving one scorer to every tenant: for tests and tools that bring their
    own model instead of the registry's."""

    def __init__(self, scorer: Scorer | None = None, *, shadow: Scorer | None = None) -> None:
        if isinstance(scorer, NullScorer):
            scorer = None
        explainer: Explainer | None = scorer if hasattr(scorer, "explain") else None  # type: ignore[assignment]
        self._models = ServingModels(champion=scorer, shadow=shadow, explainer=explainer)

    def for_tenant(self, tenant_id: str) -> ServingModels:
        return self._models

    def invalidate(self, tenant_id: str) -> None:
        return None
