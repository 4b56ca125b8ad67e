"""Assessments: the hot path from a validated event to a stored, published decision."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.bus import DECISION_MADE, OUTCOME_RECORDED, EventBus
from payguard.core.clock import Clock
from payguard.core.decisions import Action, Decision, Outcome
from payguard.core.errors import (
    Conflict,
    IdempotencyMismatch,
    NotFound,
    StateConflict,
    ValidationFailed,
)
from payguard.core.events import Event, event_digest, event_from_document, event_to_document
from payguard.core.ids import new_id
from payguard.risk.commit import GroupCommitter
from payguard.risk.engine import judge, stamp
from payguard.risk.exemptions import count_in, exempted, exemptible, reset, usage
from payguard.risk.features.extractor import (
    EntityRef,
    Touch,
    apply_outcome,
    compute,
    entities_of,
    touch,
    update,
)
from payguard.risk.interfaces import (
    MAX_SEARCH_LIMIT,
    AssessmentStore,
    DecisionQuery,
    DeviceHealthSource,
    EntityState,
    ModelSource,
    Scorer,
)
from payguard.risk.lists import ListService
from payguard.risk.models.null import NullScorer
from payguard.risk.models.partner import with_attributes
from payguard.risk.models.serving import StaticModels
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
        states = self._store.load_states(tenant_id, touched.keys)
        decision, updates = self._decide(tenant_id, event, touched, document, states)
        try:
            stored = self._store.record(decision, updates)
        except StateConflict:
            stored, decision = self._contended(tenant_id, event, touched, document)
        return self._answer(stored, decision)

    async def assess_async(self, tenant_id: str, event: Event) -> tuple[Decision, bool]:
        """`assess` for the event loop; with a group committer the write joins the writes
        of concurrent assessments instead of paying for a transaction of its own."""
        committer = self._committer
        if committer is None:
            return self.assess(tenant_id, event)
        touched = touch(event)
        document = event_to_document(event)
        states = committer.overlay(tenant_id, self._store.load_states(tenant_id, touched.keys))
        decision, updates = self._decide(tenant_id, event, touched, document, states)
        try:
            stored = await committer.record(decision, updates)
        except StateConflict:
            stored, decision = self._contended(tenant_id, event, touched, document)
        return self._answer(stored, decision)

    def _contended(
        self,
        tenant_id: str,
        event: Event,
        touched: Touch,
        document: dict[str, Any],
    ) -> tuple[Decision, Decision]:
        """After a lost race (another worker wrote one of the event's entities between our
        read and our write): decide again with the entities held by the store, so this
        attempt cannot lose. Stores that cannot hold them are retried after a random wait."""

        def decide(states: Mapping[str, EntityState]) -> tuple[Decision, list[EntityState]]:
            return self._decide(tenant_id, event, touched, document, states)

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
    ) -> tuple[Decision, list[EntityState]]:
        """The event's decision and its entities' new states, to be written together (with
        version checks against `states`)."""
        device = None
        if self._devices is not None and event.device is not None:
            device = self._devices.verdict(tenant_id, event.device.id, event.device.fingerprint)
        features = compute(event, states, self._lists.snapshot(tenant_id), touched, device)
        rule_set = self._rules.active(tenant_id)
        models = self._models.for_tenant(tenant_id)
        verdict = judge(
            with_attributes(features, event.attributes),  # partner features (models/partner)
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
        updates = update(event, states, touched)
        policy = rule_set.exemption
        if policy is not None:
            amount = exemptible(decision, event, policy)
            # The account's new state (the first update) carries the exemption counters.
            if amount is not None and count_in(updates[0].data, amount, policy):
                decision = exempted(decision)
        return decision, updates

    def _answer(self, stored: Decision, attempted: Decision) -> tuple[Decision, bool]:
        if stored.assessment_id != attempted.assessment_id:
            # A repeat of the event_id: the same event gets the first decision again; another
            # event under that id is refused. A decision stored before digests has none and
            # replays as before.
            digest = self._store.digest_of(stored.tenant_id, stored.assessment_id)
            if digest is not None and digest != event_digest(attempted.event):
                raise IdempotencyMismatch(
                    "event_id was already used for a different event; send the same event "
                    "again to read its decision, or a new event_id for a new event"
                )
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

    def reset_exemptions(self, tenant_id: str, account_id: str, at: datetime) -> None:
        """Start the account's low-risk exemption counters afresh: it passed a strong
        (AAL2+) authentication at `at`. A decision that read the counters before the reset
        and is written after it fails its version check and is decided again."""
        key = EntityRef("account", account_id).key
        for attempt in range(self._retries):
            if attempt:
                time.sleep(backoff(attempt))
            account = self._store.load_states(tenant_id, [key])[key]
            try:
                self._store.write_states(
                    tenant_id, [EntityState(key, account.version, reset(account.data, at))]
                )
            except StateConflict:
                continue
            return
        raise Conflict("the account's state kept changing concurrently; retry")

    def exemption_usage(self, tenant_id: str, account_id: str) -> tuple[int, int, str | None]:
        """(payments, total in minor units, currency) exempted since the account's last
        strong authentication."""
        key = EntityRef("account", account_id).key
        return usage(self._store.load_states(tenant_id, [key])[key].data)

    def finalize(self, tenant_id: str, assessment_id: str, final: Action) -> Decision:
        """Settle a challenged assessment: `allow` after its step-up passed, `block` after
        it failed."""
        return self._store.finalize(tenant_id, assessment_id, final, self._clock.now())

    def search(self, tenant_id: str, query: DecisionQuery) -> tuple[list[Decision], bool]:
        """One page of the tenant's decisions matching `query`, newest first, and whether
        more follow it."""
        if not 1 <= query.limit <= MAX_SEARCH_LIMIT:
            raise ValidationFailed(f"limit must be 1 to {MAX_SEARCH_LIMIT}", field="limit")
        found = self._store.search(tenant_id, dataclasses.replace(query, limit=query.limit + 1))
        return found[: query.limit], len(found) > query.limit

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
        actor: Actor,
        note: str | None = None,
    ) -> Decision:
        """Label an assessment; fraud labels count against its device, payee, IP and merchant."""
        decision = self.get(tenant_id, assessment_id)
        event = event_from_document(decision.event)
        keys = [ref.key for ref in entities_of(event)]
        # Windowed fraud counts are bucketed by the labelled event's own time.
        occurred = event.occurred_at.timestamp()

        def adjust(
            states: Mapping[str, EntityState], previous: Outcome | None
        ) -> list[EntityState]:
            return apply_outcome(states, keys, previous, outcome, at=occurred)

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
            target = f"assessment:{assessment_id}"
            self._audit.success(
                AuditAction.OUTCOME_RECORD, actor, target, tenant_id=tenant_id, details=details
            )
            self._bus.publish(
                OUTCOME_RECORDED,
                {"tenant_id": tenant_id, "assessment_id": assessment_id, "outcome": outcome.value},
            )
            return labelled
        raise Conflict("the entities of this assessment kept changing concurrently; retry")
