"""Assessments: the hot path from a validated event to a stored, published decision."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from payguard.audit.interfaces import AuditAction, AuditOutcome, AuditWriter
from payguard.core.bus import DECISION_MADE, OUTCOME_RECORDED, EventBus
from payguard.core.clock import Clock
from payguard.core.decisions import Action, Decision, Outcome
from payguard.core.errors import Conflict, NotFound, StateConflict
from payguard.core.events import Event, event_from_document, event_to_document
from payguard.core.ids import new_id
from payguard.risk.commit import GroupCommitter
from payguard.risk.engine import judge, stamp
from payguard.risk.exemptions import (
    EXEMPT,
    ExemptionCounter,
    Reservation,
    exempted,
    exemptible,
)
from payguard.risk.features.extractor import (
    Touch,
    apply_outcome,
    compute,
    entities_of,
    touch,
    update,
)
from payguard.risk.interfaces import (
    AssessmentStore,
    DeviceHealthSource,
    EntityState,
    ModelSource,
    Scorer,
)
from payguard.risk.lists import ListService
from payguard.risk.models.null import NullScorer
from payguard.risk.models.serving import StaticModels
from payguard.risk.rules.ruleset import LowRiskExemption
from payguard.risk.rules.service import RuleService

#: Longest wait, in seconds, before another attempt at a write that lost a race.
MAX_BACKOFF = 0.01


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt` (1, 2, ...) after a lost race: random, so two
    workers that collided on a busy entity (a merchant under a card-testing burst) do not
    collide again in step; doubling from up to 0.5 ms, at most `MAX_BACKOFF`."""
    return random.uniform(0, min(MAX_BACKOFF, 0.0005 * 2 ** (attempt - 1)))  # noqa: S311


class AssessmentService:
    """Decides events: load state in one round trip, compute features, judge, persist, publish.

    `models` says which model acts (and which shadows) for each tenant; without it, `scorer`
    serves every tenant (None: rules only).
    """

    def __init__(
        self,
        *,
        store: AssessmentStore,
        rules: RuleService,
        lists: ListService,
        bus: EventBus,
        audit: AuditWriter,
        clock: Clock,
        retries: int = 5,
        committer: GroupCommitter | None = None,
        models: ModelSource | None = None,
        scorer: Scorer | None = None,
        exemptions: ExemptionCounter | None = None,
        devices: DeviceHealthSource | None = None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._lists = lists
        self._models: ModelSource = models if models is not None else StaticModels(scorer)
        self._bus = bus
        self._audit = audit
        self._clock = clock
        self._retries = retries
        self._committer = committer
        self._exemptions = exemptions
        self._devices = devices

    @property
    def store(self) -> AssessmentStore:
        return self._store

    @property
    def models(self) -> ModelSource:
        return self._models

    def champion(self, tenant_id: str) -> Scorer:
        """The model acting for the tenant now (a `NullScorer` when none is)."""
        return self._models.for_tenant(tenant_id).champion or NullScorer()

    def assess(self, tenant_id: str, event: Event) -> tuple[Decision, bool]:
        """Decide `event`; returns (decision, replayed). A replayed event_id returns the
        first decision and changes no state."""
        touched = touch(event)
        document = event_to_document(event)
        with self._holding(tenant_id, event) as held:
            states = self._store.load_states(tenant_id, touched.keys)
            decision, updates = self._decide(tenant_id, event, touched, document, states, held)
            try:
                stored = self._store.record(decision, updates)
            except StateConflict:
                stored, decision = self._contended(tenant_id, event, touched, document, held)
        self._release(tenant_id, event, held, stored, decision)
        return self._answer(stored, decision)

    async def assess_async(self, tenant_id: str, event: Event) -> tuple[Decision, bool]:
        """`assess` for the event loop; with a group committer the write joins the writes
        of concurrent assessments instead of paying for a transaction of its own."""
        committer = self._committer
        if committer is None:
            return self.assess(tenant_id, event)
        touched = touch(event)
        document = event_to_document(event)
        with self._holding(tenant_id, event) as held:
            states = committer.overlay(tenant_id, self._store.load_states(tenant_id, touched.keys))
            decision, updates = self._decide(tenant_id, event, touched, document, states, held)
            try:
                stored = await committer.record(decision, updates)
            except StateConflict:
                stored, decision = self._contended(tenant_id, event, touched, document, held)
        self._release(tenant_id, event, held, stored, decision)
        return self._answer(stored, decision)

    def _contended(
        self,
        tenant_id: str,
        event: Event,
        touched: Touch,
        document: dict[str, Any],
        held: Reservation,
    ) -> tuple[Decision, Decision]:
        """After a lost race (another worker wrote one of the event's entities between our
        read and our write): decide again with the entities held by the store, so this
        attempt cannot lose. Stores that cannot hold them are retried after a random wait."""

        def decide(states: Mapping[str, EntityState]) -> tuple[Decision, list[EntityState]]:
            # No new reservation while the store holds the entities: the exemption
            # counters are another write, which on SQLite would wait for our own lock.
            return self._decide(
                tenant_id, event, touched, document, states, held, may_reserve=False
            )

        for attempt in range(1, self._retries):
            try:
                stored, decision = self._store.decide_and_record(tenant_id, touched.keys, decide)
            except StateConflict:
                time.sleep(backoff(attempt))
                continue
            return stored, decision
        raise Conflict("the entities of this event kept changing concurrently; retry")

    def _decide(
        self,
        tenant_id: str,
        event: Event,
        touched: Touch,
        document: dict[str, Any],
        states: Mapping[str, EntityState],
        held: Reservation | None = None,
        *,
        may_reserve: bool = True,
    ) -> tuple[Decision, list[EntityState]]:
        device = None
        if self._devices is not None and event.device is not None:
            device = self._devices.verdict(tenant_id, event.device.id, event.device.fingerprint)
        features = compute(event, states, self._lists.snapshot(tenant_id), touched, device)
        rule_set = self._rules.active(tenant_id)
        models = self._models.for_tenant(tenant_id)
        verdict = judge(
            features,
            rule_set,
            models.champion,
            shadow=models.shadow,
            explainer=models.explainer,
        )
        decision = stamp(
            verdict,
            assessment_id=new_id(),
            tenant_id=tenant_id,
            event=event,
            event_document=document,
            features=features,
            rule_set_version=rule_set.version,
            decided_at=self._clock.now(),
        )
        if device is not None and device.warnings and (device.compromised or device.at_risk):
            shown = tuple(w for w in device.warnings[:2] if w not in decision.warnings)
            decision = dataclasses.replace(decision, warnings=(*decision.warnings, *shown))
        if rule_set.exemption is not None and held is not None and self._exemptions is not None:
            decision = self._exempt(
                tenant_id, event, decision, rule_set.exemption, held, may_reserve=may_reserve
            )
        return decision, update(event, states, touched)

    def _exempt(
        self,
        tenant_id: str,
        event: Event,
        decision: Decision,
        policy: LowRiskExemption,
        held: Reservation,
        *,
        may_reserve: bool = True,
    ) -> Decision:
        """`decision` let through under the low-risk exemption if it qualifies and the
        user's counters take it (reserved once per assessment, kept across re-decisions;
        `may_reserve=False` only reuses a reservation already held)."""
        assert self._exemptions is not None
        amount = exemptible(decision, event, policy)
        if amount is None:
            return decision
        if held.amount_minor is None:
            if not may_reserve:
                return decision
            granted = self._exemptions.reserve_exemption(
                tenant_id,
                event.account_id,
                amount_minor=amount,
                currency=policy.currency,
                max_count=policy.max_count,
                max_total_minor=policy.minor(policy.max_total),
            )
            if not granted:
                return decision
            held.amount_minor = amount
        return exempted(decision)

    @contextmanager
    def _holding(self, tenant_id: str, event: Event) -> Iterator[Reservation]:
        """The assessment's exemption reservation, given back if deciding or storing fails."""
        held = Reservation()
        try:
            yield held
        except BaseException:
            self._release(tenant_id, event, held, None)
            raise

    def _release(
        self,
        tenant_id: str,
        event: Event,
        held: Reservation,
        stored: Decision | None,
        decided: Decision | None = None,
    ) -> None:
        """Give back a reservation the stored decision does not use (a replay, a failure,
        or a re-decision that no longer qualified)."""
        if held.amount_minor is None or self._exemptions is None:
            return
        if (
            stored is not None
            and decided is not None
            and stored.assessment_id == decided.assessment_id
            and EXEMPT in stored.reasons
        ):
            return
        self._exemptions.release_exemption(
            tenant_id, event.account_id, amount_minor=held.amount_minor
        )
        held.amount_minor = None

    def _answer(self, stored: Decision, attempted: Decision) -> tuple[Decision, bool]:
        if stored.assessment_id != attempted.assessment_id:
            return stored, True
        self._bus.publish(
            DECISION_MADE,
            {
                "tenant_id": stored.tenant_id,
                "assessment_id": stored.assessment_id,
                "event_id": stored.event_id,
                "event_type": stored.event_type,
                "decision": stored.decision.value,
                "score": stored.score,
                "reasons": [r.code for r in stored.reasons],
            },
        )
        return stored, False

    def finalize(self, tenant_id: str, assessment_id: str, final: Action) -> Decision:
        """Settle a challenged assessment: `allow` after its step-up passed, `block` after
        it failed."""
        return self._store.finalize(tenant_id, assessment_id, final, self._clock.now())

    def get(self, tenant_id: str, assessment_id: str) -> Decision:
        decision = self._store.get(tenant_id, assessment_id)
        if decision is None:
            raise NotFound(f"no assessment {assessment_id!r}")
        return decision

    def record_outcome(
        self,
        *,
        tenant_id: str,
        assessment_id: str,
        outcome: Outcome,
        actor: str,
        source_ip: str | None,
        note: str | None = None,
    ) -> Decision:
        """Label an assessment; fraud labels count against its device, payee, IP and merchant."""
        decision = self.get(tenant_id, assessment_id)
        keys = [ref.key for ref in entities_of(event_from_document(decision.event))]

        def adjust(
            states: Mapping[str, EntityState], previous: Outcome | None
        ) -> list[EntityState]:
            return apply_outcome(states, keys, previous, outcome)

        for attempt in range(self._retries):
            if attempt:
                time.sleep(backoff(attempt))
            try:
                labelled, previous = self._store.record_outcome(
                    tenant_id, assessment_id, outcome, self._clock.now(), keys, adjust
                )
            except StateConflict:
                continue
            details: dict[str, Any] = {
                "outcome": outcome.value,
                "previous": None if previous is None else previous.value,
            }
            if note:
                details["note"] = note
            self._audit.record(
                action=AuditAction.OUTCOME_RECORD,
                actor=actor,
                target=f"assessment:{assessment_id}",
                outcome=AuditOutcome.SUCCESS,
                tenant_id=tenant_id,
                source_ip=source_ip,
                details=details,
            )
            self._bus.publish(
                OUTCOME_RECORDED,
                {"tenant_id": tenant_id, "assessment_id": assessment_id, "outcome": outcome.value},
            )
            return labelled
        raise Conflict("the entities of this assessment kept changing concurrently; retry")
