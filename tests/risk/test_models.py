"""The model in the hot path: the ONNX scorer, reason codes, shadow mode, per-tenant serving."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from tests.risk.model_fixtures import COLUMNS, RISKY, SAFE, artifact, booster

from payguard.core.clock import FrozenClock
from payguard.core.decisions import Action, ModelScore
from payguard.risk.engine import judge
from payguard.risk.interfaces import NO_MODELS
from payguard.risk.models.artifact import ModelArtifact
from payguard.risk.models.explain import LeafAttribution, reason_code, reason_message
from payguard.risk.models.null import NullScorer
from payguard.risk.models.onnx import OnnxScorer
from payguard.risk.models.serving import ModelScorers, StaticModels
from payguard.risk.models.vector import Vectorizer
from payguard.risk.rules.ruleset import compile_rule_set

NO_RULES = compile_rule_set(
    "thresholds: {challenge: 300, review: 600, block: 850}\nrules: []\n", version=1
)


def random_rows(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.zeros((count, len(COLUMNS)), dtype=np.float32)
    rows[:, :] = rng.integers(0, 4, size=rows.shape)
    rows[:, COLUMNS.index("amount")] = np.round(rng.gamma(1.2, 900.0, size=count), 2)
    rows[:, COLUMNS.index("amount_zscore")] = rng.normal(size=count)
    return rows


def test_onnx_scorer_matches_the_booster_on_random_rows() -> None:
    scorer = OnnxScorer(artifact(), 7)
    rows = random_rows(300, seed=3)
    expected = booster().predict(rows)
    vectorizer = Vectorizer(COLUMNS)
    for row in rows:
        features = {
            c: float(v)
            for c, v in zip(COLUMNS, row, strict=True)
            if "=" not in c and not c.endswith("_lists_count")
        }
        built = vectorizer.row(features)[0]
        got = scorer.score(features)
        assert got.version == "7"
        assert abs(got.score - float(booster().predict(built[None, :])[0])) < 1e-5
    # And in bulk, straight through the session, against the booster on the same rows.
    session_scores = scorer._session.run(["probabilities"], {"x": rows})[0][:, 1]
    assert np.max(np.abs(session_scores - expected)) < 1e-5


def test_the_model_separates_its_risky_and_safe_examples() -> None:
    scorer = OnnxScorer(artifact(), 1)
    assert scorer.score(RISKY).score > 0.8
    assert scorer.score(SAFE).score < 0.2


def test_leaf_attributions_add_up_to_the_raw_margin() -> None:
    attribution = LeafAttribution(artifact().booster, COLUMNS)
    rows = random_rows(200, seed=5)
    raw = booster().predict(rows, raw_score=True)
    for row, margin in zip(rows, raw, strict=True):
        contributions = attribution.contributions(row[None, :])
        assert contributions.shape == (len(COLUMNS),)
        assert abs(attribution.bias + contributions.sum() - margin) < 1e-6


def test_leaf_attribution_refuses_columns_that_do_not_match_the_booster() -> None:
    with pytest.raises(ValueError, match="columns"):
        LeafAttribution(artifact().booster, COLUMNS[:-1])


def test_explain_names_the_features_that_raised_the_score() -> None:
    scorer = OnnxScorer(artifact(), 1)
    reasons = scorer.explain(RISKY, 3)
    assert 1 <= len(reasons) <= 3
    codes = [r.code for r in reasons]
    assert codes[0] in ("MODEL_AMOUNT", "MODEL_DEVICE_DISTINCT_ACCOUNTS_1H")
    assert all(code.startswith("MODEL_") for code in codes)
    first = reasons[0]
    assert first.message.startswith("Model: ") and first.message.endswith("raised the fraud score")
    assert "4800" in " ".join(r.message for r in reasons) or "= 4" in " ".join(
        r.message for r in reasons
    )


@pytest.mark.parametrize(
    ("column", "code"),
    [
        ("device_distinct_accounts_1h", "MODEL_DEVICE_DISTINCT_ACCOUNTS_1H"),
        ("event_type=payment", "MODEL_EVENT_TYPE_PAYMENT"),
        ("channel=web", "MODEL_CHANNEL_WEB"),
        ("weird--name..", "MODEL_WEIRD_NAME"),
    ],
)
def test_reason_codes_are_upper_case_and_sanitised(column: str, code: str) -> None:
    assert reason_code(column) == code


def test_reason_messages() -> None:
    assert reason_message("device_distinct_accounts_1h", 4.0) == (
        "Model: device_distinct_accounts_1h = 4 raised the fraud score"
    )
    assert reason_message("amount_zscore", 3.14159) == (
        "Model: amount_zscore = 3.142 raised the fraud score"
    )
    assert reason_message("event_type=payment", 1.0) == (
        "Model: event_type = payment raised the fraud score"
    )
    assert reason_message("event_type=login", 0.0) == (
        "Model: event_type is not login raised the fraud score"
    )


@dataclass
class Fixed:
    """A scorer with a fixed score that records whether it was asked to explain."""

    value: float
    version: str = "9"
    explained: int = 0

    def score(self, features: Any) -> ModelScore:
        return ModelScore(self.version, self.value)

    def explain(self, features: Any, limit: int) -> tuple[Any, ...]:
        from payguard.core.decisions import Reason

        self.explained += 1
        return (Reason("MODEL_AMOUNT", "Model: amount = 4800 raised the fraud score"),)[:limit]


def test_model_reasons_only_when_the_model_drives_the_decision() -> None:
    low = Fixed(0.299)
    verdict = judge({}, NO_RULES, low, explainer=low)
    assert verdict.action == Action.ALLOW
    assert verdict.reasons == ()
    assert low.explained == 0

    high = Fixed(0.3)
    verdict = judge({}, NO_RULES, high, explainer=high)
    assert verdict.action == Action.CHALLENGE
    assert verdict.score == 300
    assert [r.code for r in verdict.reasons] == ["MODEL_AMOUNT"]
    assert verdict.model == ModelScore("9", 0.3)

    # Without an explainer the model still scores, without reasons.
    assert judge({}, NO_RULES, high).reasons == ()


def test_model_reasons_follow_the_rules_reasons() -> None:
    rules = compile_rule_set(
        "thresholds: {challenge: 300, review: 600, block: 850}\n"
        "rules:\n"
        "  - {id: big, when: 'amount > 1000.0', action: review, score: 100, reason: BIG,"
        " message: big}\n",
        version=2,
    )
    high = Fixed(0.9)
    verdict = judge({"amount": 4800.0}, rules, high, explainer=high)
    assert verdict.action == Action.BLOCK
    assert [r.code for r in verdict.reasons] == ["BIG", "MODEL_AMOUNT"]


def test_the_shadow_is_scored_and_never_acts() -> None:
    champion = Fixed(0.05, version="1")
    shadow = Fixed(0.99, version="2")
    verdict = judge({}, NO_RULES, champion, shadow=shadow, explainer=champion)
    assert verdict.action == Action.ALLOW
    assert verdict.score == 50
    assert verdict.reasons == ()
    assert verdict.model == ModelScore("1", 0.05)
    assert verdict.shadow == ModelScore("2", 0.99)
    assert shadow.explained == 0
    # A shadow without a champion: rules alone decide, the shadow is still recorded.
    alone = judge({}, NO_RULES, None, shadow=shadow)
    assert alone.model is None and alone.shadow == ModelScore("2", 0.99)
    assert alone.action == Action.ALLOW


def test_static_models_serve_one_scorer_to_everyone() -> None:
    assert StaticModels(NullScorer()).for_tenant("t") == NO_MODELS
    fixed = Fixed(0.5)
    served = StaticModels(fixed).for_tenant("any")
    assert served.champion is fixed and served.explainer is fixed and served.shadow is None


@dataclass
class Summary:
    version: int


@dataclass
class Stored:
    version: int
    artifact: ModelArtifact


class FakeCatalog:
    """An in-memory registry: enough of it for serving."""

    def __init__(self) -> None:
        self.state: dict[str, int] = {}
        self.champion: dict[str, int] = {}
        self.shadow: dict[str, int] = {}
        self.artifacts: dict[tuple[str, int], ModelArtifact] = {}
        self.gets: list[tuple[str, int]] = []

    def change(
        self, tenant: str, *, champion: int | None = None, shadow: int | None = None
    ) -> None:
        if champion is not None:
            self.champion[tenant] = champion
        if shadow is not None:
            self.shadow[tenant] = shadow
        self.state[tenant] = self.state.get(tenant, 0) + 1

    def state_version(self, tenant_id: str) -> int:
        return self.state.get(tenant_id, 0)

    def serving(self, tenant_id: str) -> tuple[Summary | None, Summary | None]:
        champion = self.champion.get(tenant_id)
        shadow = self.shadow.get(tenant_id)
        return (
            None if champion is None else Summary(champion),
            None if shadow is None else Summary(shadow),
        )

    def get(self, tenant_id: str, version: int) -> Stored | None:
        self.gets.append((tenant_id, version))
        found = self.artifacts.get((tenant_id, version))
        return None if found is None else Stored(version, found)


def test_each_tenant_gets_its_champion_after_the_poll_ttl() -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    catalog = FakeCatalog()
    catalog.artifacts[("a", 1)] = artifact()
    catalog.artifacts[("a", 2)] = artifact()
    scorers = ModelScorers(catalog, ttl=2.0, timer=lambda: clock.now().timestamp())

    assert scorers.for_tenant("a") == NO_MODELS
    assert scorers.for_tenant("b") == NO_MODELS

    # Promoted elsewhere (another worker, the CLI): seen only once the TTL has passed.
    catalog.change("a", champion=1)
    assert scorers.for_tenant("a") == NO_MODELS
    clock.advance(timedelta(seconds=2.5))
    served = scorers.for_tenant("a")
    assert served.champion is not None and served.explainer is served.champion
    assert served.champion.score(RISKY).version == "1"
    assert scorers.for_tenant("b") == NO_MODELS

    # The loaded version is reused: another poll with no change loads nothing.
    loads = len(catalog.gets)
    clock.advance(timedelta(seconds=5))
    assert scorers.for_tenant("a").champion is served.champion
    assert len(catalog.gets) == loads

    # A shadow joins: the champion is not loaded again.
    catalog.change("a", shadow=2)
    scorers.invalidate("a")
    both = scorers.for_tenant("a")
    assert both.champion is served.champion
    assert both.shadow is not None and both.shadow.score(SAFE).version == "2"
    assert catalog.gets[loads:] == [("a", 2)]


def test_a_version_that_cannot_load_serves_nothing(caplog: pytest.LogCaptureFixture) -> None:
    catalog = FakeCatalog()
    catalog.artifacts[("a", 1)] = replace(artifact(), onnx=b"not a model")
    catalog.change("a", champion=1)
    scorers = ModelScorers(catalog, ttl=0)
    assert scorers.for_tenant("a") == NO_MODELS
    gets = len(catalog.gets)
    assert scorers.for_tenant("a") == NO_MODELS
    assert len(catalog.gets) == gets  # not retried on every event
