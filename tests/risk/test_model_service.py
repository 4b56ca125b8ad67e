"""The model registry service wired as in production (`build_services`): register, promote,
shadow, the engine picking the champion up in every worker, and drift."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from tests.risk.conftest import EventFactory
from tests.risk.model_fixtures import artifact

from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.core.clock import FrozenClock
from payguard.core.errors import NotFound, ValidationFailed
from payguard.ml.interfaces import ModelStatus
from payguard.services import Services, build_services
from payguard.settings import Settings

CLI = Actor.system("cli")
ALICE = Actor("alice")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/models.db", cache_ttl_seconds=2.0)


@pytest.fixture
def services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    built = build_services(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def tenant_id(services: Services) -> str:
    tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    return tenant.id


def risky(make_event: EventFactory, clock: FrozenClock, **kw):  # type: ignore[no-untyped-def]
    return make_event(at=clock.now(), amount="4800.00", **kw)


def safe(make_event: EventFactory, clock: FrozenClock, **kw):  # type: ignore[no-untyped-def]
    return make_event(at=clock.now(), amount="25.00", **kw)


def test_register_then_promote_puts_the_model_in_the_hot_path(
    services: Services, tenant_id: str, make_event: EventFactory, clock: FrozenClock
) -> None:
    before, _ = services.assessments.assess(tenant_id, risky(make_event, clock))
    assert before.model is None

    record = services.models.register(tenant_id, artifact(), actor=CLI)
    assert record.version == 1 and record.status == ModelStatus.CANDIDATE
    candidate_only, _ = services.assessments.assess(tenant_id, risky(make_event, clock))
    assert candidate_only.model is None  # a candidate serves nothing

    services.models.promote(tenant_id, 1, actor=ALICE)
    decision, _ = services.assessments.assess(tenant_id, risky(make_event, clock))
    assert decision.model is not None
    assert decision.model.version == "1" and decision.model.score > 0.8
    assert decision.score >= 800
    model_reasons = [r for r in decision.reasons if r.code.startswith("MODEL_")]
    assert 1 <= len(model_reasons) <= 3
    assert decision.shadow is None

    quiet, _ = services.assessments.assess(
        tenant_id, safe(make_event, clock, account="acct-2", device="dev-2", payee="p-2")
    )
    assert quiet.model is not None and quiet.model.score < 0.2
    assert not [r for r in quiet.reasons if r.code.startswith("MODEL_")]

    stored = services.assessments.get(tenant_id, decision.assessment_id)
    assert stored.model == decision.model and stored.reasons == decision.reasons

    actions = [(r.action, r.outcome) for r in services.audit.list(tenant_id=tenant_id)]
    assert (AuditAction.MODEL_REGISTER, AuditOutcome.SUCCESS) in actions
    assert (AuditAction.MODEL_PROMOTE, AuditOutcome.SUCCESS) in actions


def test_another_worker_picks_the_champion_up_after_the_poll_ttl(
    services: Services,
    settings: Settings,
    tenant_id: str,
    make_event: EventFactory,
    clock: FrozenClock,
) -> None:
    other = build_services(settings, clock=clock)
    try:
        first, _ = other.assessments.assess(tenant_id, risky(make_event, clock))
        assert first.model is None
        services.models.register(tenant_id, artifact(), actor=CLI)
        services.models.promote(tenant_id, 1, actor=CLI)

        within, _ = other.assessments.assess(tenant_id, risky(make_event, clock))
        assert within.model is None  # still trusting its cached answer
        clock.advance(timedelta(seconds=2.5))
        after, _ = other.assessments.assess(tenant_id, risky(make_event, clock))
        assert after.model is not None and after.model.version == "1"

        # A later promotion reaches it the same way.
        services.models.register(tenant_id, replace(artifact(), data_hash="sha256:v2"), CLI)
        services.models.promote(tenant_id, 2, actor=CLI)
        clock.advance(timedelta(seconds=2.5))
        newer, _ = other.assessments.assess(tenant_id, risky(make_event, clock))
        assert newer.model is not None and newer.model.version == "2"
    finally:
        other.close()


def test_the_shadow_is_stored_and_never_acts(
    services: Services, tenant_id: str, make_event: EventFactory, clock: FrozenClock
) -> None:
    services.models.register(tenant_id, artifact(), actor=CLI)
    services.models.shadow(tenant_id, 1, actor=CLI)
    decision, _ = services.assessments.assess(tenant_id, risky(make_event, clock))
    assert decision.model is None
    assert decision.shadow is not None and decision.shadow.version == "1"
    assert decision.shadow.score > 0.8
    assert not [r for r in decision.reasons if r.code.startswith("MODEL_")]
    assert decision.score < 800  # the rules alone decided
    stored = services.assessments.get(tenant_id, decision.assessment_id)
    assert stored.shadow == decision.shadow

    # With a champion too, both are scored; the champion acts.
    services.models.register(tenant_id, replace(artifact(), data_hash="sha256:v2"), CLI)
    services.models.promote(tenant_id, 2, actor=CLI)
    both, _ = services.assessments.assess(tenant_id, risky(make_event, clock))
    assert both.model is not None and both.model.version == "2"
    assert both.shadow is not None and both.shadow.version == "1"

    services.models.shadow(tenant_id, None, actor=CLI)
    after, _ = services.assessments.assess(tenant_id, risky(make_event, clock))
    assert after.shadow is None and after.model is not None


def test_refusals_are_audited(services: Services, tenant_id: str) -> None:
    with pytest.raises(NotFound):
        services.models.promote(tenant_id, 4, actor=ALICE)
    with pytest.raises(NotFound):
        services.models.get(tenant_id, 4)
    services.models.register(tenant_id, artifact(), actor=CLI)
    services.models.promote(tenant_id, 1, actor=CLI)
    with pytest.raises(ValidationFailed):
        services.models.shadow(tenant_id, 1, actor=ALICE)
    failures = [
        r.action
        for r in services.audit.list(tenant_id=tenant_id)
        if r.outcome == AuditOutcome.FAILURE
    ]
    assert AuditAction.MODEL_PROMOTE in failures and AuditAction.MODEL_SHADOW in failures


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"onnx": b"not an onnx graph"}, "onnx"),
        ({"booster": "not a booster"}, "onnx"),
        ({"columns": ()}, "columns"),
        ({"columns": ("amount",)}, "onnx"),
    ],
)
def test_an_artifact_that_cannot_be_served_is_refused(
    services: Services, tenant_id: str, change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.models.register(tenant_id, replace(artifact(), **change), actor=CLI)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert services.models.latest(tenant_id) is None


def test_latest_and_get_for_the_training_cli(services: Services, tenant_id: str) -> None:
    assert services.models.latest(tenant_id) is None
    services.models.register(tenant_id, artifact(), actor=CLI)
    latest = services.models.latest(tenant_id)
    assert latest is not None and latest.version == 1
    assert services.models.get(tenant_id, 1).artifact.columns == artifact().columns


def test_drift_of_the_champion_per_day(
    services: Services, tenant_id: str, make_event: EventFactory, clock: FrozenClock
) -> None:
    with pytest.raises(NotFound):
        services.models.drift(tenant_id, 7)
    services.models.register(tenant_id, artifact(), actor=CLI)
    services.models.promote(tenant_id, 1, actor=CLI)
    start = clock.now()
    for day in range(3):
        for n in range(5):
            at = start - timedelta(days=2 - day, minutes=n)
            services.assessments.assess(
                tenant_id, make_event(at=at, amount=f"{100 + 900 * n}.00", account=f"a{n}")
            )
    report = services.models.drift(tenant_id, 7)
    assert report.version == 1 and report.days == 7
    assert [row["events"] for row in report.by_day] == [5, 5, 5]
    assert [str(row["day"]) for row in report.by_day] == [
        (start - timedelta(days=2 - d)).date().isoformat() for d in range(3)
    ]
    for row in report.by_day:
        assert row["score_psi"] >= 0
        assert set(row["features"]) == {"amount", "device_distinct_accounts_1h"}
    assert len(services.models.drift(tenant_id, 1).by_day) == 1
    for days in (0, 91):
        with pytest.raises(ValidationFailed) as refused:
            services.models.drift(tenant_id, days)
        assert refused.value.field == "days"
