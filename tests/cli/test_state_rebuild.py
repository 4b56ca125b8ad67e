"""`payguard state`: rebuild the velocity state in Redis from the stored decisions after Redis
lost it, so the next decisions see the same features as if nothing had been lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction
from payguard.cli.state import replay_states
from payguard.core.clock import FrozenClock
from payguard.core.decisions import Action, Decision, Outcome
from payguard.core.events import (
    Channel,
    Device,
    Event,
    EventType,
    Geo,
    Merchant,
    Payee,
    event_to_document,
)
from payguard.core.money import Money
from payguard.risk.exemptions import EXEMPT
from payguard.risk.features.extractor import entities_of
from payguard.risk.features.state import EXEMPTIONS, FRAUD_REPORTS
from payguard.services import Services, build_services
from payguard.settings import Settings

runner = CliRunner()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _event(n: int, *, account: str, seconds: float, **overrides: object) -> Event:
    fields: dict[str, object] = {
        "event_id": f"evt-{n}",
        "event_type": EventType.PAYMENT,
        "occurred_at": T0 + timedelta(seconds=seconds),
        "account_id": account,
        "amount": Money(Decimal(f"{10 + n}.50"), "SGD"),
        "payee": Payee(f"payee-{n % 3}"),
        "merchant": Merchant("shop-1") if n % 2 else None,
        "device": Device(f"dev-{n % 2}"),
        "ip": f"198.51.100.{n % 4}",
        "geo": Geo(1.3521, 103.8198, "SG"),
        "channel": Channel.APP,
        "attributes": {},
    }
    fields.update(overrides)
    return Event(**fields)  # type: ignore[arg-type]


#: A history over two accounts sharing devices, payees, IPs and a merchant, with a failed
#: login, and in event-time order as a partner sends it.
HISTORY = [_event(n, account=f"acct-{n % 2}", seconds=n * 97.0) for n in range(12)] + [
    _event(
        12,
        account="acct-1",
        seconds=12 * 97.0,
        event_type=EventType.LOGIN,
        amount=None,
        payee=None,
        merchant=None,
        attributes={"success": False},
    )
]
NEXT = _event(99, account="acct-1", seconds=13 * 97.0)


@pytest.fixture
def deployment(
    tmp_path, monkeypatch: pytest.MonkeyPatch, redis_url: str, namespace: str
) -> Iterator[Services]:
    """A deployment on SQLite and Redis; the CLI sees the same settings."""
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("PAYGUARD_KV_URL", redis_url)
    monkeypatch.setenv("PAYGUARD_NAMESPACE", namespace)
    monkeypatch.setenv("PAYGUARD_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("PAYGUARD_ARGON2_MEMORY_KIB", "8192")
    services = build_services(Settings(), clock=FrozenClock(T0 + timedelta(hours=1)))
    try:
        yield services
    finally:
        assert services.state_store is not None
        services.state_store.purge_namespace()
        services.close()


def _assess_history(services: Services, tenant_id: str) -> None:
    decided = [services.assessments.assess(tenant_id, event)[0] for event in HISTORY]
    services.assessments.record_outcome(
        tenant_id=tenant_id,
        assessment_id=decided[3].assessment_id,
        outcome=Outcome.FRAUD,
        actor=Actor.system("test"),
    )


def _wipe(redis_url: str, namespace: str, tenant_id: str) -> int:
    """What a Redis restarted without persistence leaves of one tenant: nothing (and no
    epoch). Only this test's own keys are deleted; the server is shared."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{{{namespace}:{tenant_id}}}:*", count=1000))
        client.delete(*keys, f"{{{namespace}}}:epoch")
        return len(keys)
    finally:
        client.close()


@pytest.mark.redis
def test_rebuild_restores_the_state_the_decisions_left(
    deployment: Services, redis_url: str, namespace: str
) -> None:
    services = deployment
    system = Actor.system("test")
    acme, _ = services.tenants.create_tenant("acme", actor=system)
    control, _ = services.tenants.create_tenant("control", actor=system)
    _assess_history(services, acme.id)
    _assess_history(services, control.id)
    keys = sorted({ref.key for event in HISTORY for ref in entities_of(event)})
    before = services.assessment_store.load_states(acme.id, keys)

    assert _wipe(redis_url, namespace, acme.id) > 0
    assert services.readiness().checks["redis_state"] is False
    assert runner.invoke(_app(), ["state", "check"]).exit_code == 1
    # Control: the next event decided on intact state.
    expected = services.assessments.assess(control.id, NEXT)[0].features

    result = runner.invoke(_app(), ["state", "rebuild"])

    assert result.exit_code == 0, result.output
    assert f"tenant acme: {len(HISTORY)} decisions replayed, {len(keys)} entity" in result.output
    after = services.assessment_store.load_states(acme.id, keys)
    assert {k: s.data for k, s in after.items()} == {k: s.data for k, s in before.items()}
    assert services.readiness().checks["redis_state"] is True
    got = services.assessments.assess(acme.id, NEXT)[0].features
    assert got == expected
    assert got["account_payments_1h"] > 0  # velocity, not a fresh start
    records = services.audit.list(tenant_id=acme.id, action=AuditAction.STATE_REBUILD)
    [record] = [r for r in records if r.details.get("operation") == "state_rebuild"]
    assert record.actor == "cli"
    assert record.details == {"operation": "state_rebuild", "decisions": 13, "entities": len(keys)}
    assert runner.invoke(_app(), ["state", "check"]).exit_code == 0


@pytest.mark.redis
def test_rebuilding_one_tenant_leaves_the_loss_reported(
    deployment: Services, redis_url: str, namespace: str
) -> None:
    services = deployment
    acme, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    _assess_history(services, acme.id)
    _wipe(redis_url, namespace, acme.id)

    result = runner.invoke(_app(), ["state", "rebuild", "--tenant", "acme"])

    assert result.exit_code == 0, result.output
    assert "lost-state flag unchanged" in result.output
    assert services.readiness().checks["redis_state"] is False
    assert runner.invoke(_app(), ["state", "rebuild", "--tenant", "nobody"]).exit_code == 2

    accepted = runner.invoke(_app(), ["state", "acknowledge"])

    assert accepted.exit_code == 0, accepted.output
    assert services.readiness().checks["redis_state"] is True


def test_state_commands_refuse_when_state_lives_in_the_database(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/embedded.db")
    monkeypatch.delenv("PAYGUARD_KV_URL", raising=False)

    result = runner.invoke(_app(), ["state", "rebuild"])

    assert result.exit_code == 2
    assert "not Redis" in result.output


def _app():  # type: ignore[no-untyped-def]
    from payguard.cli.main import app

    return app


def _decision(event: Event, **fields: object) -> Decision:
    values: dict[str, object] = {
        "assessment_id": f"a-{event.event_id}",
        "tenant_id": "t",
        "event_id": event.event_id,
        "event_type": event.event_type.value,
        "account_id": event.account_id,
        "decision": Action.ALLOW,
        "score": 5,
        "reasons": (),
        "warnings": (),
        "step_up": None,
        "rule_hits": (),
        "model": None,
        "rule_set_version": 1,
        "occurred_at": event.occurred_at,
        "decided_at": event.occurred_at,
        "event": event_to_document(event),
    }
    values.update(fields)
    return Decision(**values)  # type: ignore[arg-type]


def test_replay_counts_exempted_payments_and_fraud_labels() -> None:
    first, second, third = HISTORY[1], HISTORY[3], HISTORY[5]  # all on acct-1
    states = replay_states(
        [
            _decision(first, reasons=(EXEMPT,)),
            _decision(second, outcome=Outcome.FRAUD),
            _decision(third, reasons=(EXEMPT,)),
        ]
    )

    account = states["account:acct-1"].data
    # 11.50 SGD + 15.50 SGD in cents; the strong sign-ins that reset them are not decisions.
    assert account[EXEMPTIONS] == [2, 1150 + 1550, "SGD", None]
    # The label counts on the labelled payment's entities, not on the others'.
    device = states[f"device:{second.device.id}"].data  # type: ignore[union-attr]
    assert device[FRAUD_REPORTS] == 1
    assert states[f"payee:{first.payee.id}"].data.get(FRAUD_REPORTS, 0) == 0  # type: ignore[union-attr]
