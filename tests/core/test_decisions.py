"""The decision document round trip stores and the bus rely on, shadow score included."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.decisions import (
    STEP_UP_METHODS,
    Action,
    AssuranceLevel,
    Decision,
    ModelScore,
    Outcome,
    Reason,
    RuleHit,
    StepUp,
    decision_from_document,
    decision_to_document,
)

text = st.text(min_size=1, max_size=20)
scores = st.builds(ModelScore, version=st.integers(1, 10_000).map(str), score=st.floats(0.0, 1.0))
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    level = draw(st.sampled_from(list(AssuranceLevel)))
    return Decision(
        assessment_id=draw(text),
        tenant_id=draw(text),
        event_id=draw(text),
        event_type="payment",
        account_id=draw(text),
        decision=draw(st.sampled_from(list(Action))),
        score=draw(st.integers(0, 1000)),
        reasons=tuple(draw(st.lists(st.builds(Reason, text, text), max_size=4))),
        warnings=tuple(draw(st.lists(text, max_size=2))),
        step_up=draw(st.none() | st.just(StepUp(level, STEP_UP_METHODS[level]))),
        rule_hits=tuple(
            draw(
                st.lists(
                    st.builds(
                        RuleHit, text, st.sampled_from(list(Action)), st.integers(-1000, 1000), text
                    ),
                    max_size=3,
                )
            )
        ),
        model=draw(st.none() | scores),
        rule_set_version=draw(st.integers(0, 1000)),
        occurred_at=draw(moments),
        decided_at=draw(moments),
        features=draw(st.dictionaries(text, st.integers(0, 100), max_size=3)),
        event={"event_id": "e"},
        outcome=draw(st.none() | st.sampled_from(list(Outcome))),
        shadow=draw(st.none() | scores),
    )


@given(decisions())
def test_document_round_trip(decision: Decision) -> None:
    document = orjson.loads(orjson.dumps(decision_to_document(decision)))
    assert decision_from_document(document) == decision


def test_documents_stored_before_shadow_mode_read_as_no_shadow() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    decision = Decision(
        "a", "t", "e", "payment", "acct", Action.ALLOW, 0, (), (), None, (), None, 0, at, at
    )
    document = decision_to_document(decision)
    assert document["shadow"] is None
    del document["shadow"]
    assert decision_from_document(document).shadow is None
