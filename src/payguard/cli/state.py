"""`payguard state`: the velocity state in Redis, checked and rebuilt from the stored decisions.

Redis holds the only copy of the entity (velocity) state when `PAYGUARD_KV_URL` is Redis. If
Redis comes back empty, the store notices (its epoch key is gone), `/readyz` answers 503 with
`redis_state: false`, and `kv.state_lost` is logged. `payguard state rebuild` then replays
every stored decision through the engine's own feature-state code (`touch`, `update`,
`apply_outcome`), writes the result over what Redis holds, and starts a new epoch;
`payguard state acknowledge` starts a new epoch without rebuilding (the loss is accepted).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from payguard.cli.context import err
from payguard.cli.context import services as _services
from payguard.cli.context import tenant_named as _tenant_named

if TYPE_CHECKING:
    from payguard.core.decisions import Decision
    from payguard.risk.interfaces import EntityState

state_app = typer.Typer(
    no_args_is_help=True, help="Velocity state in Redis: check it, rebuild it after a loss."
)

#: No tenant has more decisions than this (the store's reads need a bound).
_ALL = 2**62


def replay_states(decisions: Iterable[Decision]) -> dict[str, EntityState]:
    """The entity states that `decisions` (in `occurred_at` order) leave behind, computed as
    the engine computed them: each event's `update`, then each fraud label's
    `apply_outcome` (labels are applied after every event, as they arrive after their
    event; their windowed counts are bucketed by the labelled event's own time either way).

    Exempted payments are counted in the account's exemption counters; the strong
    authentications that reset them are not decisions, so the rebuilt counters can only be
    higher than the lost ones: more step-ups until the next strong sign-in, never fewer.
    """
    from payguard.core.decisions import FRAUD_OUTCOMES
    from payguard.core.events import event_from_document
    from payguard.core.money import minor_units
    from payguard.risk.exemptions import EXEMPT
    from payguard.risk.features.extractor import apply_outcome, entities_of, touch, update
    from payguard.risk.features.state import EXEMPTIONS

    states: dict[str, EntityState] = {}
    labels: list[tuple[list[str], Decision, float]] = []
    for decision in decisions:
        event = event_from_document(decision.event)
        touched = touch(event)
        updated = update(event, states, touched)
        if event.amount is not None and any(r.code == EXEMPT.code for r in decision.reasons):
            account = updated[0].data  # the account comes first
            count, total, _, since = account.get(EXEMPTIONS) or (0, 0, None, None)
            amount = event.amount
            minor = int(amount.value.scaleb(minor_units(amount.currency)))
            account[EXEMPTIONS] = [count + 1, total + minor, amount.currency, since]
        for state in updated:
            states[state.key] = state
        if decision.outcome in FRAUD_OUTCOMES and decision.outcome is not None:
            keys = [ref.key for ref in entities_of(event)]
            labels.append((keys, decision, event.occurred_at.timestamp()))
    for keys, decision, at in labels:
        assert decision.outcome is not None
        for state in apply_outcome(states, keys, None, decision.outcome, at=at):
            states[state.key] = state
    return states


def _not_redis() -> NoReturn:
    """Exit 2: the state lives in the database (PAYGUARD_KV_URL is not Redis)."""
    err.print(
        "[red]error:[/red] PAYGUARD_KV_URL is not Redis: the entity state lives in the "
        "database, written with each decision, and cannot be lost apart from it",
        highlight=False,
    )
    raise typer.Exit(2)


@state_app.command("check")
def check() -> None:
    """Say whether Redis still holds the velocity state (exit 1 when it was lost)."""
    with _services() as services:
        store = services.state_store or _not_redis()
        intact = store.check_state()
    if intact:
        typer.echo("redis state: ok")
        return
    typer.echo("redis state: lost (run payguard state rebuild)")
    raise typer.Exit(1)


@state_app.command("rebuild")
def rebuild(
    tenant: Annotated[
        list[str] | None,
        typer.Option(help="Rebuild only this tenant (repeatable); default: every tenant"),
    ] = None,
) -> None:
    """Rebuild the velocity state in Redis by replaying the stored decisions, in the order
    they occurred, through the engine's feature code; then mark the state intact again.

    Run it with the same PAYGUARD_* settings as the servers. Decisions made while it runs
    may be missing from the rebuilt state: run it again, or when traffic is low. With
    --tenant the lost-state flag stays set (other tenants are not rebuilt) until a run over
    every tenant, or `payguard state acknowledge`.
    """
    from payguard.audit.interfaces import Actor, AuditAction

    actor = Actor.system("cli")
    with _services() as services:
        store = services.state_store or _not_redis()
        chosen = (
            [_tenant_named(services, name) for name in tenant]
            if tenant
            else services.tenants.tenants()
        )
        for owner in chosen:
            decisions = services.assessment_store.iter_decisions(owner.id, limit=_ALL)
            counted = _Counted(decisions)
            states = replay_states(counted)
            store.replace(owner.id, list(states.values()))
            services.audit.success(
                AuditAction.STATE_REBUILD,
                actor,
                "entity_state",
                tenant_id=owner.id,
                details={
                    "operation": "state_rebuild",
                    "decisions": counted.n,
                    "entities": len(states),
                },
            )
            typer.echo(
                f"tenant {owner.name}: {counted.n:,} decisions replayed, "
                f"{len(states):,} entity states written"
            )
        if tenant:
            typer.echo(
                "lost-state flag unchanged: run without --tenant to rebuild every tenant, "
                "or payguard state acknowledge"
            )
            return
        store.mark_rebuilt()
        services.audit.success(
            AuditAction.STATE_REBUILD,
            actor,
            "entity_state",
            details={"operation": "state_epoch", "tenants": len(chosen)},
        )
    typer.echo("redis state: ok (new epoch)")


@state_app.command("acknowledge")
def acknowledge() -> None:
    """Accept a loss of the velocity state without rebuilding it: counters start from zero
    and /readyz stops reporting the loss."""
    from payguard.audit.interfaces import Actor, AuditAction

    with _services() as services:
        store = services.state_store or _not_redis()
        store.mark_rebuilt()
        services.audit.success(
            AuditAction.STATE_REBUILD,
            Actor.system("cli"),
            "entity_state",
            details={"operation": "state_acknowledge"},
        )
    typer.echo("redis state: ok (new epoch; the lost counters are not restored)")


class _Counted:
    """Passes decisions through, counting them."""

    def __init__(self, decisions: Iterable[Decision]) -> None:
        self._decisions = decisions
        self.n = 0

    def __iter__(self) -> Iterator[Decision]:
        for decision in self._decisions:
            self.n += 1
            yield decision
