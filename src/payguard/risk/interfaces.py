"""Ports the decision engine depends on, and its errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from payguard.core.decisions import Action, Decision, ModelScore, Outcome, Reason
from payguard.core.errors import StateConflict


@dataclass(slots=True)
class EntityState:
    """Opaque, JSON-serialisable state of one entity (`account:<id>`, `device:<id>`, ...).

    `version` is 0 for an entity never written; each successful write stores version + 1.
    The feature code owns the layout of `data` (`risk.features.state`); stores only persist it.
    """

    key: str
    version: int = 0
    data: dict[str, Any] = field(default_factory=dict)


#: Given the current states of an event's entities, its decision and their new states.
Decide = Callable[[Mapping[str, EntityState]], tuple[Decision, list[EntityState]]]

#: Given the current states of an assessment's entities and its outcome before a new label,
#: the states to write for the new label (the feature code's `apply_outcome`).
Relabel = Callable[[Mapping[str, EntityState], Outcome | None], list[EntityState]]


class EntityStateStore(Protocol):
    """The feature/velocity store (KV port): load in one round trip, write with CAS."""

    def load(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        """Every requested key, absent ones as version-0 empty states; one round trip."""
        ...

    def apply(self, tenant_id: str, marker: str, updates: Sequence[EntityState]) -> bool:
        """Write `updates` (each stored as version + 1) atomically if every stored version
        still equals `update.version`; raise `StateConflict` otherwise. `marker` makes the
        write idempotent: if a write with the same marker was already applied, nothing is
        written and False is returned."""
        ...


#: Most decisions one search returns.
MAX_SEARCH_LIMIT = 500


@dataclass(frozen=True, slots=True)
class DecisionQuery:
    """Filters for `AssessmentStore.search`; every given filter must match (AND).

    `since`/`until` bound the event's `occurred_at` (since inclusive, until exclusive).
    `decisions` matches any of the listed actions (the engine's decision, not a final one).
    `reason` matches a decision that gave that reason code. `after` is the keyset position
    (occurred_at, assessment_id) of the last decision of the previous page.
    """

    since: datetime | None = None
    until: datetime | None = None
    decisions: tuple[Action, ...] = ()
    account_id: str | None = None
    device_id: str | None = None
    payee_id: str | None = None
    reason: str | None = None
    score_min: int | None = None
    score_max: int | None = None
    limit: int = 50
    after: tuple[datetime, str] | None = None


class AssessmentStore(Protocol):
    """Decisions and the entity state they change, persisted as one unit.

    States returned by `load_states` may be shared with a cache: treat their `data` as
    read-only and build new dicts for updates.
    """

    def load_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]: ...

    def record(self, decision: Decision, updates: Sequence[EntityState]) -> Decision:
        """Store `decision` and apply `updates` together, with the digest of its event
        (`core.events.event_digest(decision.event)`). If the tenant already has a decision
        for the same event_id, store nothing and return that earlier decision. Raise
        `StateConflict` if an update's version is stale (nothing is written)."""
        ...

    def record_many(
        self, items: Sequence[tuple[Decision, Sequence[EntityState]]]
    ) -> list[Decision | StateConflict]:
        """`record` for several assessments at once, in as few transactions as the store
        can (group commit). Each item succeeds or fails on its own: the result for an item
        is what `record` would return for it, or the `StateConflict` it would raise. Any
        other error fails the whole call with nothing written."""
        ...

    def write_states(self, tenant_id: str, updates: Sequence[EntityState]) -> None:
        """Write entity states with no decision (an exemption reset): each update is stored
        as version + 1 if every stored version still equals `update.version`, all of them
        or none; raise `StateConflict` otherwise (nothing is written)."""
        ...

    def decide_and_record(
        self, tenant_id: str, keys: Sequence[str], decide: Decide
    ) -> tuple[Decision, Decision]:
        """Load the states of `keys`, call `decide(states)` for a decision and its state
        updates, and `record` them, with no other writer able to change those states in
        between where the store can hold them (the SQL stores: the database's write lock or
        row locks), so that the write cannot lose a race (on PostgreSQL, two first-ever writes
        of one entity still can: there is no row to lock yet). Returns (stored, decided): stored is
        an earlier decision for the same event if there was one. A store that cannot hold
        the states loads, decides and records, and may raise `StateConflict`."""
        ...

    def record_outcome(
        self,
        tenant_id: str,
        assessment_id: str,
        outcome: Outcome,
        at: datetime,
        keys: Sequence[str],
        adjust: Relabel,
    ) -> tuple[Decision, Outcome | None]:
        """Label an assessment and write `adjust(states of keys, previous outcome)`.

        The previous outcome is read under the same guard as the label is written, so two
        relabels of one assessment never both adjust from the same previous outcome (which
        would leave a fraud-report counter off by one). Returns the labelled decision and
        the previous outcome. `NotFound` if unknown; `StateConflict` if an entity changed
        meanwhile and nothing was written (retry)."""
        ...

    def finalize(self, tenant_id: str, assessment_id: str, final: Action, at: datetime) -> Decision:
        """Settle a challenged assessment once: `final` is `allow` (its step-up passed) or
        `block` (it failed). Setting the same final again returns the decision unchanged;
        `Conflict` if it is already final the other way; `NotFound` if unknown."""
        ...

    def get(self, tenant_id: str, assessment_id: str) -> Decision | None: ...

    def get_by_event(self, tenant_id: str, event_id: str) -> Decision | None: ...

    def digest_of(self, tenant_id: str, assessment_id: str) -> str | None:
        """The event digest stored with an assessment; None for one stored before digests
        were (or an unknown id)."""
        ...

    def search(self, tenant_id: str, query: DecisionQuery) -> list[Decision]:
        """The tenant's decisions matching `query`, newest first by (`occurred_at`,
        `assessment_id`), at most `query.limit`, strictly after `query.after` in that order."""
        ...

    def iter_decisions(
        self,
        tenant_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> Iterator[Decision]:
        """Stored decisions in `occurred_at` order, for backtests and training."""
        ...


@dataclass(frozen=True, slots=True)
class DeviceVerdict:
    """A device's health as the engine reads it (from `payguard.devices`)."""

    score: int  # 0-100
    compromised: bool
    at_risk: bool
    reasons: tuple[str, ...] = ()
    #: Plain-language warnings for the user, most important first.
    warnings: tuple[str, ...] = ()
    #: On a network-wide list of bad devices or apps.
    community_hit: bool = False


class DeviceHealthSource(Protocol):
    """The device health the engine consults on the hot path (cached per worker)."""

    def verdict(
        self, tenant_id: str, device_id: str, fingerprint: str | None
    ) -> DeviceVerdict | None:
        """None when nothing is known about the device."""
        ...


class ListKind(StrEnum):
    """What a list's items identify."""

    ACCOUNT = "account"
    DEVICE = "device"
    IP = "ip"
    PAYEE = "payee"
    MERCHANT = "merchant"


@dataclass(frozen=True, slots=True)
class ListItem:
    list_name: str
    kind: ListKind
    value: str
    added_at: datetime
    expires_at: datetime | None = None
    note: str | None = None


class ListRepository(Protocol):
    """Block and allow lists, per tenant. A list has one kind, fixed by its first item."""

    def kind_of(self, tenant_id: str, list_name: str) -> ListKind | None: ...

    def add(self, tenant_id: str, items: Sequence[ListItem]) -> int:
        """Upsert items; returns how many were new."""
        ...

    def remove(self, tenant_id: str, list_name: str, values: Sequence[str]) -> int:
        """Returns how many existed and were removed."""
        ...

    def items(
        self, tenant_id: str, list_name: str, *, limit: int = 1000, after: str | None = None
    ) -> list[ListItem]:
        """Items ordered by value, paged by `after`."""
        ...

    def snapshot(
        self, tenant_id: str, at: datetime
    ) -> Mapping[ListKind, Mapping[str, tuple[str, ...]]]:
        """Every unexpired item: kind → value → names of the lists holding it."""
        ...

    def version(self, tenant_id: str) -> int:
        """Increases on every change to the tenant's lists (cheap to poll)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredRuleSet:
    tenant_id: str
    version: int
    source: str  # the YAML as submitted
    created_at: datetime
    created_by: str


class RuleSetRepository(Protocol):
    """Versioned rule sets per tenant; the highest version is the active one."""

    def add(
        self, tenant_id: str, source: str, created_at: datetime, created_by: str
    ) -> StoredRuleSet:
        """Store `source` as the tenant's next version and return it."""
        ...

    def active(self, tenant_id: str) -> StoredRuleSet | None: ...

    def get(self, tenant_id: str, version: int) -> StoredRuleSet | None: ...

    def active_version(self, tenant_id: str) -> int:
        """0 when the tenant never stored a rule set (cheap to poll)."""
        ...


class Scorer(Protocol):
    """The model hook: scores a feature vector; the ML capability plugs a trained model in."""

    def score(self, features: Mapping[str, Any]) -> ModelScore | None: ...


class Explainer(Protocol):
    """Says which features raised a model's score for one feature vector (reason codes)."""

    def explain(self, features: Mapping[str, Any], limit: int) -> tuple[Reason, ...]:
        """At most `limit` reasons, the feature that raised the score most first; only
        features that raised it."""
        ...


@dataclass(frozen=True, slots=True)
class ServingModels:
    """The models serving one tenant: the champion acts, the shadow is only recorded.

    `explainer` gives the champion's reason codes; None when it cannot explain itself.
    """

    champion: Scorer | None = None
    shadow: Scorer | None = None
    explainer: Explainer | None = None


#: A tenant with no promoted model: its decisions rest on the rules alone.
NO_MODELS = ServingModels()


class ModelSource(Protocol):
    """Which models serve a tenant right now (per worker, cached; cheap on the hot path)."""

    def for_tenant(self, tenant_id: str) -> ServingModels: ...


class ExpiringListRepository(ListRepository, Protocol):
    """A `ListRepository` that also says when the next item expires, so a cached snapshot is
    reloaded right then, and never for lists whose items do not expire."""

    def next_expiry(self, tenant_id: str, after: datetime) -> datetime | None:
        """The earliest `expires_at` later than `after` among the tenant's items (None when
        no item expires after `after`)."""
        ...
