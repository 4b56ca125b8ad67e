"""The `card` entity: keyed by the card's token, with the velocity, distinct-count,
first-seen and fraud features every entity has."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from payguard.core.decisions import Outcome
from payguard.core.events import Card, Event, event_from_document, event_to_document
from payguard.risk.features.extractor import (
    ENTITIES,
    FEATURES,
    apply_outcome,
    compute,
    entities_of,
    update,
)
from payguard.risk.interfaces import EntityState
from payguard.risk.models.vector import catalog_columns

TOKEN = "8350266204731111"  # a token's shape; the card number never reaches the engine
CARD = Card(token=TOKEN, masked="411111******1111", bin="411111", bin_country="SG")


class Replay:
    def __init__(self) -> None:
        self.states: dict[str, EntityState] = {}

    def __call__(self, event: Event) -> dict[str, Any]:
        keys = [ref.key for ref in entities_of(event)]
        current = {k: self.states.get(k, EntityState(k)) for k in keys}
        features = compute(event, current, {})
        for state in update(event, current):
            self.states[state.key] = EntityState(state.key, state.version + 1, state.data)
        return features

    def label(self, event: Event, outcome: Outcome) -> None:
        keys = [ref.key for ref in entities_of(event)]
        for state in apply_outcome(
            self.states, keys, None, outcome, at=event.occurred_at.timestamp()
        ):
            self.states[state.key] = state


def carded(event: Event, card: Card = CARD) -> Event:
    return replace(event, card=card)


def test_card_is_an_entity_keyed_by_its_token(make_event) -> None:
    assert "card" in ENTITIES
    refs = entities_of(carded(make_event()))
    assert refs[-1].key == f"card:{TOKEN}"
    assert all(ref.kind != "card" for ref in entities_of(make_event()))


def test_card_features_are_in_the_catalog_and_the_model_columns() -> None:
    names = {
        "card_events_1h",
        "card_payments_24h",
        "card_amount_24h",
        "card_distinct_accounts_24h",
        "card_distinct_merchants_1h",
        "account_distinct_cards_24h",
        "card_fraud_reports",
        "card_frauds_7d",
        "card_fraud_rate_30d",
        "card_age_days",
        "new_card",
        "card_bin_country_mismatch",
        "token_domain_violation",
    }
    assert names <= set(FEATURES)
    assert names <= set(catalog_columns())
    assert "card_lists" not in FEATURES  # lists do not name cards


def test_velocity_of_a_card_counts_across_accounts(make_event) -> None:
    replay = Replay()
    for i in range(3):
        replay(carded(make_event(seconds=i * 10, account=f"acct-{i}", merchant=f"m-{i % 2}")))
    features = replay(carded(make_event(seconds=40, account="acct-9", merchant="m-0")))
    assert features["card_events_1h"] == 4
    assert features["card_payments_1h"] == 4
    assert features["card_amount_1h"] == 100.0
    assert features["card_distinct_accounts_1h"] == 4
    assert features["card_distinct_merchants_1h"] == 2
    assert features["account_events_1h"] == 1  # each account saw the card once
    assert features["new_card"] is False  # a new account: nothing is new to it yet
    other = replay(make_event(seconds=50, account="acct-9"))
    assert other["card_events_1h"] == 0  # an event without the card


def test_first_seen_of_a_card(make_event) -> None:
    replay = Replay()
    replay(make_event())
    first = replay(carded(make_event(seconds=60)))
    assert first["new_card"] is True and first["card_age_days"] == 0.0
    later = replay(carded(make_event(seconds=2 * 86400 + 60)))
    assert later["new_card"] is False and later["card_age_days"] == 2.0
    other = replay(carded(make_event(seconds=2 * 86400 + 90), replace(CARD, token="1" * 16)))
    assert other["new_card"] is True
    assert other["account_distinct_cards_24h"] == 2


def test_a_fraud_label_counts_against_the_card(make_event) -> None:
    replay = Replay()
    stolen = carded(make_event(account="acct-1"))
    replay(stolen)
    replay.label(stolen, Outcome.FRAUD)
    features = replay(carded(make_event(seconds=600, account="acct-2", device="dev-2")))
    assert features["card_fraud_reports"] == 1
    assert features["card_frauds_1d"] == 1
    assert features["card_fraud_rate_1d"] == 0.5
    assert features["account_fraud_reports"] == 0  # another account, same card
    clean = replay(make_event(seconds=700, account="acct-3", device="dev-3", payee="p-3"))
    assert clean["card_fraud_reports"] == 0


def test_bin_country_mismatch(make_event) -> None:
    replay = Replay()
    assert replay(carded(make_event(country="SG")))["card_bin_country_mismatch"] is False
    assert replay(carded(make_event(seconds=1, country="MY")))["card_bin_country_mismatch"]
    unknown = replace(CARD, bin_country=None)
    assert not replay(carded(make_event(seconds=2, country="MY"), unknown))[
        "card_bin_country_mismatch"
    ]


def test_the_stored_event_keeps_the_token_and_masked_form_only(make_event) -> None:
    event = carded(make_event())
    document = event_to_document(event)
    assert document["card"] == {
        "token": TOKEN,
        "masked": "411111******1111",
        "bin": "411111",
        "bin_country": "SG",
    }
    assert event_from_document(document) == event
