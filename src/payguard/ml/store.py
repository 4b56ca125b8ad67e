"""Training rows from a tenant's stored decisions: retraining from recorded outcomes.

Each decision stores the features the engine computed at decision time (sparse; `dense`
restores the rest), so these rows are exactly what the engine saw, lists included. A
decision labelled `fraud` or `chargeback` (`POST /v1/assessments/{id}/outcome`) is fraud;
every other decision counts as legitimate. The store keeps the label, not when it came, so
labels are taken as known at decision time: the split's label-delay gap still leaves the
most recent decisions, whose labels may not be in yet, out of training.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from payguard.core.decisions import FRAUD_OUTCOMES
from payguard.ml.replay import FeatureTable
from payguard.risk.engine import dense
from payguard.risk.models.vector import Vectorizer

if TYPE_CHECKING:
    from payguard.risk.interfaces import AssessmentStore

#: Most decisions one training run reads.
MAX_DECISIONS = 50_000_000
_BLOCK = 65_536


def decisions_table(
    store: AssessmentStore,
    tenant_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    label_delay_days: float = 7.0,
) -> tuple[FeatureTable, dict[str, Any]]:
    """The tenant's decisions in `[since, until)` as a feature table, and facts about them
    (count, frauds, a hash of the decisions and labels read)."""
    vectorizer = Vectorizer()
    width = len(vectorizer)
    blocks: list[np.ndarray[Any, Any]] = []
    block = np.zeros((_BLOCK, width), dtype=np.float32)
    filled = 0
    fraud: list[bool] = []
    occurred: list[float] = []
    account: list[str] = []
    event_id: list[str] = []
    event_type: list[str] = []
    typology: list[str] = []
    digest = hashlib.sha256(f"store:{tenant_id}".encode())
    decisions = store.iter_decisions(tenant_id, since=since, until=until, limit=MAX_DECISIONS)
    for decision in decisions:
        if filled == _BLOCK:
            blocks.append(block)
            block = np.zeros((_BLOCK, width), dtype=np.float32)
            filled = 0
        vectorizer.fill(dense(decision.features), block[filled])
        filled += 1
        labelled = decision.outcome in FRAUD_OUTCOMES
        fraud.append(labelled)
        occurred.append(decision.occurred_at.timestamp())
        account.append(decision.account_id)
        event_id.append(decision.event_id)
        event_type.append(decision.event_type)
        typology.append(decision.outcome.value if labelled and decision.outcome else "")
        outcome = "" if decision.outcome is None else decision.outcome.value
        digest.update(f"{decision.assessment_id}:{outcome}\n".encode())
    blocks.append(block[:filled])
    occurred_at = np.array(occurred, dtype=np.float64)
    fraud_array = np.array(fraud, dtype=np.bool_)
    table = FeatureTable(
        columns=vectorizer.columns,
        matrix=np.concatenate(blocks),
        fraud=fraud_array,
        # Labels in the store are known now; `label_at` = decision time (see the module doc).
        label_at=np.where(fraud_array, occurred_at, np.nan),
        occurred_at=occurred_at,
        account=np.array(account, dtype=np.str_),
        event_id=np.array(event_id, dtype=np.str_),
        event_type=np.array(event_type, dtype=np.str_),
        typology=np.array(typology, dtype=np.str_),
    )
    facts = {
        "source": "store",
        "kind": "decisions",
        "tenant_id": tenant_id,
        "since": None if since is None else since.isoformat(),
        "until": None if until is None else until.isoformat(),
        "events": len(table),
        "frauds": int(fraud_array.sum()),
        "label_delay_days": label_delay_days,
        "data_hash": digest.hexdigest(),
    }
    return table, facts
