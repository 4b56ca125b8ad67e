"""Contract tests for `SqlModelRegistry` on every SQL backend: versions, blobs, and the
champion/shadow state machine."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.models import SqlModelRegistry
from payguard.core.errors import NotFound, ValidationFailed
from payguard.ml.interfaces import ModelRegistry, ModelStatus
from payguard.risk.models.artifact import ModelArtifact

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

ARTIFACT = ModelArtifact(
    columns=("amount", "event_type=payment", "device_distinct_accounts_1h"),
    onnx=bytes(range(256)) * 64 + b"\x00\xff",
    booster="tree\nversion=v4\n" + "x" * 10_000,
    trained_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
    data_hash="sha256:" + "ab" * 32,
    metrics={"model": {"average_precision": 0.8125, "roc_auc": 0.97}, "days": None},
    params={"trees": 200, "split": {"train_until": "2026-02-20"}},
    reference={"score": {"edges": [0.1, 0.5], "expected": [0.5, 0.3, 0.2]}, "features": {}},
)


@pytest.fixture
def models(sql_engine: sa.Engine) -> ModelRegistry:
    return SqlModelRegistry(sql_engine)


def statuses(models: ModelRegistry, tenant: str) -> dict[int, ModelStatus]:
    return {s.version: s.status for s in models.list(tenant)}


def test_no_models_yet(models: ModelRegistry, tenant: str) -> None:
    assert models.latest(tenant) is None
    assert models.get(tenant, 1) is None
    assert models.describe(tenant, 1) is None
    assert models.list(tenant) == []
    assert models.serving(tenant) == (None, None)
    assert models.state_version(tenant) == 0


def test_versions_count_up_and_keep_their_artifact(models: ModelRegistry, tenant: str) -> None:
    first = models.add(tenant, ARTIFACT, T0, "cli")
    second = models.add(tenant, replace(ARTIFACT, data_hash="sha256:other"), T0, "alice")
    assert (first.version, second.version) == (1, 2)
    assert first.status == ModelStatus.CANDIDATE

    stored = models.get(tenant, 1)
    assert stored is not None
    assert stored == first
    assert stored.artifact == ARTIFACT
    assert isinstance(stored.artifact.onnx, bytes)
    assert stored.artifact.trained_at.tzinfo == UTC
    latest = models.latest(tenant)
    assert latest is not None and latest.version == 2 and latest.created_by == "alice"

    listed = models.list(tenant)
    assert [s.version for s in listed] == [2, 1]
    assert listed[1] == first.summary
    assert listed[1].columns == 3 and listed[1].metrics == ARTIFACT.metrics
    assert models.describe(tenant, 2) == second.summary
    assert models.state_version(tenant) == 2


def test_models_are_per_tenant(models: ModelRegistry, tenant: str, other_tenant: str) -> None:
    models.add(tenant, ARTIFACT, T0, "cli")
    models.promote(tenant, 1)
    assert models.get(other_tenant, 1) is None
    assert models.list(other_tenant) == []
    assert models.serving(other_tenant) == (None, None)
    assert models.state_version(other_tenant) == 0
    with pytest.raises(NotFound):
        models.promote(other_tenant, 1)
    with pytest.raises(NotFound):
        models.set_shadow(other_tenant, 1)
    assert models.add(other_tenant, ARTIFACT, T0, "cli").version == 1
    assert statuses(models, tenant) == {1: ModelStatus.CHAMPION}
    assert statuses(models, other_tenant) == {1: ModelStatus.CANDIDATE}


def test_promote_retires_the_previous_champion(models: ModelRegistry, tenant: str) -> None:
    for _ in range(3):
        models.add(tenant, ARTIFACT, T0, "cli")
    before = models.state_version(tenant)
    promoted = models.promote(tenant, 1)
    assert promoted.status == ModelStatus.CHAMPION
    assert models.state_version(tenant) > before
    champion, shadow = models.serving(tenant)
    assert champion is not None and champion.version == 1 and shadow is None

    models.promote(tenant, 2)
    assert statuses(models, tenant) == {
        1: ModelStatus.RETIRED,
        2: ModelStatus.CHAMPION,
        3: ModelStatus.CANDIDATE,
    }
    # Promoting the champion again changes nothing; rolling back to a retired one works.
    models.promote(tenant, 2)
    assert statuses(models, tenant)[2] == ModelStatus.CHAMPION
    models.promote(tenant, 1)
    assert statuses(models, tenant) == {
        1: ModelStatus.CHAMPION,
        2: ModelStatus.RETIRED,
        3: ModelStatus.CANDIDATE,
    }


def test_unknown_versions_are_not_found_and_change_nothing(
    models: ModelRegistry, tenant: str
) -> None:
    models.add(tenant, ARTIFACT, T0, "cli")
    models.promote(tenant, 1)
    state = models.state_version(tenant)
    with pytest.raises(NotFound):
        models.promote(tenant, 2)
    with pytest.raises(NotFound):
        models.set_shadow(tenant, 99)
    assert models.state_version(tenant) == state
    assert statuses(models, tenant) == {1: ModelStatus.CHAMPION}


def test_shadow_slot(models: ModelRegistry, tenant: str) -> None:
    for _ in range(3):
        models.add(tenant, ARTIFACT, T0, "cli")
    models.promote(tenant, 1)

    shadow = models.set_shadow(tenant, 2)
    assert shadow is not None and shadow.status == ModelStatus.SHADOW
    champion, shadowing = models.serving(tenant)
    assert (champion and champion.version, shadowing and shadowing.version) == (1, 2)

    # A new shadow sends the previous one back to candidate.
    models.set_shadow(tenant, 3)
    assert statuses(models, tenant) == {
        1: ModelStatus.CHAMPION,
        2: ModelStatus.CANDIDATE,
        3: ModelStatus.SHADOW,
    }
    # The champion cannot shadow itself.
    with pytest.raises(ValidationFailed) as refused:
        models.set_shadow(tenant, 1)
    assert refused.value.field == "version"
    # Promoting the shadow empties the slot.
    models.promote(tenant, 3)
    assert statuses(models, tenant) == {
        1: ModelStatus.RETIRED,
        2: ModelStatus.CANDIDATE,
        3: ModelStatus.CHAMPION,
    }
    assert models.serving(tenant)[1] is None
    # A retired model may shadow; None stops shadowing.
    models.set_shadow(tenant, 1)
    assert statuses(models, tenant)[1] == ModelStatus.SHADOW
    state = models.state_version(tenant)
    assert models.set_shadow(tenant, None) is None
    assert statuses(models, tenant)[1] == ModelStatus.CANDIDATE
    assert models.serving(tenant)[1] is None
    assert models.state_version(tenant) > state


def test_concurrent_changes_leave_one_champion_and_distinct_versions(
    sql_engine: sa.Engine, tenant: str
) -> None:
    def add(_: int) -> int:
        return SqlModelRegistry(sql_engine).add(tenant, ARTIFACT, T0, "w").version

    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(add, range(8)))
    assert sorted(versions) == list(range(1, 9))

    def promote(version: int) -> None:
        SqlModelRegistry(sql_engine).promote(tenant, version)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(promote, range(1, 9)))
    found = statuses(SqlModelRegistry(sql_engine), tenant)
    assert list(found.values()).count(ModelStatus.CHAMPION) == 1
    assert SqlModelRegistry(sql_engine).state_version(tenant) == 16


def test_created_at_round_trips(models: ModelRegistry, tenant: str) -> None:
    later = T0 + timedelta(hours=5, microseconds=123)
    record = models.add(tenant, ARTIFACT, later, "cli")
    stored = models.describe(tenant, record.version)
    assert stored is not None and stored.created_at == later
