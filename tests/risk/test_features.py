from __future__ import annotations

from collections.abc import Mapping

from payguard.core.decisions import Outcome
from payguard.core.events import Event, EventType
from payguard.risk.features import state as schema
from payguard.risk.features.extractor import FEATURES, apply_outcome, compute, entities_of, update
from payguard.risk.interfaces import EntityState, ListKind


class Replay:
    """Feeds events through compute/update the way the engine does, with states in a dict."""

    def __init__(self) -> None:
        self.states: dict[str, EntityState] = {}
        self.lists: Mapping[ListKind, Mapping[str, tuple[str, ...]]] = {}

    def __call__(self, event: Event) -> dict[str, object]:
        keys = [ref.key for ref in entities_of(event)]
        current = {k: self.states.get(k, EntityState(k)) for k in keys}
        features = compute(event, current, self.lists)
        for state in update(event, current):
            self.states[state.key] = EntityState(state.key, state.version + 1, state.data)
        return features


def test_every_feature_is_in_the_catalog(make_event) -> None:
    features = Replay()(make_event())
    assert set(features) == set(FEATURES)


def test_velocity_counts_include_the_current_event(make_event) -> None:
    replay = Replay()
    for i in range(4):
        features = replay(make_event(seconds=i * 5, amount="10.00"))
    assert features["account_payments_1m"] == 4
    assert features["account_amount_1m"] == 40.0
    assert features["device_events_1h"] == 4
    later = replay(make_event(seconds=3 * 3600, amount="1.00"))
    assert later["account_payments_1m"] == 1
    assert later["account_payments_24h"] == 5


def test_first_seen_flags(make_event) -> None:
    replay = Replay()
    first = replay(make_event())
    assert first["new_account"] and not first["new_device"]
    same = replay(make_event(seconds=60))
    assert not same["new_device"] and not same["new_payee"]
    other = replay(make_event(seconds=120, device="dev-2", payee="payee-2", country="MY"))
    assert other["new_device"] and other["new_payee"] and other["new_country"]
    assert other["account_distinct_devices_1h"] == 2


def test_money_in_another_currency_is_counted_not_added(make_event) -> None:
    """Sums and the amount profile stay in each entity's home currency (its first money
    event's): 1,000,000 IDR is not a million dollars' worth of SGD."""
    replay = Replay()
    for i, amount in enumerate(("20.00", "22.00", "18.00", "21.00")):
        home = replay(make_event(seconds=i * 60, amount=amount))
    assert not home["foreign_currency"]
    foreign = replay(make_event(seconds=300, amount="1000000", currency="IDR"))
    assert foreign["foreign_currency"]
    assert foreign["account_payments_1h"] == 5
    assert foreign["account_amount_1h"] == 81.0
    assert foreign["payee_amount_1h"] == 81.0
    assert foreign["amount_zscore"] == 0.0  # not compared with a profile in SGD
    back = replay(make_event(seconds=360, amount="19.00"))
    assert not back["foreign_currency"]
    assert back["account_amount_1h"] == 100.0
    assert back["account_payment_history"] == 4  # the IDR payment is not in the profile
    # A login carries no money: never foreign.
    assert not replay(make_event(seconds=400, event_type=EventType.LOGIN, amount=None))[
        "foreign_currency"
    ]


def test_amount_zscore_against_the_accounts_history(make_event) -> None:
    replay = Replay()
    for i, amount in enumerate(("20.00", "22.00", "18.00", "21.00", "19.00")):
        replay(make_event(seconds=i * 600, amount=amount))
    big = replay(make_event(seconds=4000, amount="400.00"))
    assert big["amount_zscore"] > 10
    assert big["account_payment_history"] == 5


def test_impossible_travel(make_event) -> None:
    replay = Replay()
    replay(make_event())
    # Singapore to London in ten minutes.
    jump = replay(make_event(seconds=600, lat=51.5072, lon=-0.1276, country="GB"))
    assert jump["impossible_travel"]
    assert jump["geo_distance_km"] > 10_000


def test_ato_sequence_timers(make_event) -> None:
    replay = Replay()
    replay(make_event(event_type=EventType.LOGIN, amount=None, payee=None))
    replay(
        make_event(
            event_type=EventType.CREDENTIAL_CHANGE,
            seconds=60,
            amount=None,
            payee=None,
            device="evil",
        )
    )
    replay(make_event(event_type=EventType.PAYEE_ADD, seconds=120, amount=None, payee="mule"))
    pay = replay(make_event(seconds=180, payee="mule", device="evil", amount="900.00"))
    assert pay["secs_since_credential_change"] == 120
    assert pay["secs_since_payee_add"] == 60
    assert pay["account_credential_changes_24h"] == 1


def test_failed_logins_counted(make_event) -> None:
    replay = Replay()
    for i in range(6):
        features = replay(
            make_event(
                event_type=EventType.LOGIN, seconds=i, amount=None, payee=None, success=False
            )
        )
    assert features["account_failed_logins_1h"] == 6
    assert features["ip_failed_logins_1h"] == 6


def test_list_membership_and_fraud_reports(make_event) -> None:
    replay = Replay()
    replay.lists = {ListKind.PAYEE: {"payee-1": ("blocked_payees",)}}
    event = make_event()
    features = replay(event)
    assert features["payee_lists"] == ["blocked_payees"]
    keys = [ref.key for ref in entities_of(event)]
    flagged = apply_outcome(
        replay.states, keys, None, Outcome.FRAUD, at=event.occurred_at.timestamp()
    )
    assert {s.data["fr"] for s in flagged} == {1}
    assert apply_outcome(replay.states, keys, Outcome.FRAUD, Outcome.CHARGEBACK, at=0.0) == []
    for state in flagged:
        replay.states[state.key] = state
    assert replay(make_event(seconds=10, account="acct-2"))["payee_fraud_reports"] == 1


def test_state_is_json_serialisable(make_event) -> None:
    import orjson

    replay = Replay()
    replay(make_event())
    for state in replay.states.values():
        assert orjson.loads(orjson.dumps(state.data)) == state.data


def test_update_never_mutates_the_loaded_state(make_event) -> None:
    """Loaded states are shared with the cache: update must build new objects."""
    import copy

    replay = Replay()
    for i in range(30):
        replay(make_event(seconds=i * 700, payee=f"p{i % 4}", device=f"d{i % 3}"))
    event = make_event(seconds=30 * 700, payee="p9", amount="3.00")
    keys = [ref.key for ref in entities_of(event)]
    current = {k: replay.states.get(k, EntityState(k)) for k in keys}
    before = copy.deepcopy(current)
    update(event, current)
    apply_outcome(current, keys, None, Outcome.FRAUD, at=event.occurred_at.timestamp())
    assert current == before


def test_deposits_and_pass_through(make_event) -> None:
    """Money in is counted apart from money out; a payment that moves most of the last
    day's inflow on (a mule's pass-through) shows as `amount_to_deposits_24h`."""
    replay = Replay()
    senders = ("acct-a", "acct-b", "acct-c")
    for i, sender in enumerate(senders):
        deposit = replay(
            make_event(
                event_type=EventType.DEPOSIT,
                seconds=i * 600,
                amount="300.00",
                payee=sender,
                source="transfer_in",
            )
        )
    assert deposit["account_deposits_1h"] == 3
    assert deposit["account_deposit_amount_24h"] == 900.0
    assert deposit["account_payments_24h"] == 0  # money in is not a payment
    assert deposit["account_distinct_payees_24h"] == 3  # three counterparties
    payout = replay(make_event(seconds=1800, amount="850.00", payee="mule-exit"))
    assert payout["amount_to_deposits_24h"] == round(850 / 900, 4)
    assert payout["secs_since_deposit"] == 600.0
    assert payout["account_payment_history"] == 0  # deposits never shape the spending profile
    quiet = replay(make_event(seconds=3 * 86400, amount="10.00"))
    assert quiet["account_deposits_24h"] == 0 and quiet["amount_to_deposits_24h"] == 0.0


def test_deposit_in_another_currency_is_not_added(make_event) -> None:
    replay = Replay()
    replay(make_event(event_type=EventType.DEPOSIT, amount="100.00"))
    foreign = replay(make_event(event_type=EventType.DEPOSIT, amount="5000000", currency="IDR"))
    assert foreign["account_deposit_amount_24h"] == 100.0
    assert foreign["account_deposits_24h"] == 1


def test_attribute_signals(make_event) -> None:
    replay = Replay()
    plain = replay(make_event())
    assert not plain["remote_access"] and not plain["emulator"] and not plain["rooted"]
    assert plain["sim_swap_hours"] == -1.0 and not plain["sim_swap_recent"]
    assert not plain["promo"]
    flagged = replay(
        make_event(
            seconds=60,
            remote_access=True,
            emulator=True,
            rooted=True,
            sim_swap_hours=2.5,
            promo_code="WELCOME10",
        )
    )
    assert flagged["remote_access"] and flagged["emulator"] and flagged["rooted"]
    assert flagged["sim_swap_hours"] == 2.5 and flagged["sim_swap_recent"]
    assert flagged["promo"]
    # Only real flags count: a string "true" or a bool passed as hours is not a signal.
    odd = replay(make_event(seconds=120, remote_access="true", sim_swap_hours=True))
    assert not odd["remote_access"] and odd["sim_swap_hours"] == -1.0
    old_swap = replay(make_event(seconds=180, sim_swap_hours=24 * 90))
    assert old_swap["sim_swap_hours"] == 2160.0 and not old_swap["sim_swap_recent"]


def test_round_amounts_and_merchant_age(make_event) -> None:
    replay = Replay()
    assert replay(make_event(amount="500.00"))["amount_round"]
    assert not replay(make_event(seconds=1, amount="499.99"))["amount_round"]
    assert not replay(make_event(seconds=2, amount="50.00"))["amount_round"]
    first = replay(make_event(seconds=3, payee=None, merchant="shop-1"))
    assert first["merchant_age_days"] == 0.0
    later = replay(make_event(seconds=3 + 2 * 86400, payee=None, merchant="shop-1"))
    assert later["merchant_age_days"] == 2.0


# -- the stored state's schema --------------------------------------------------------------

#: The compact keys states have always been stored under: changing one would orphan every
#: state already stored.
STORED_KEYS = {
    "FIRST_SEEN": "fs",
    "LAST_SEEN": "ls",
    "CURRENCY": "cur",
    "VELOCITY": "w",
    "FAILED_LOGINS": "f",
    "MEMBERS": "m",
    "FRAUD_REPORTS": "fr",
    "FRAUD_WINDOWS": "fw",
    "TYPE_SERIES": "t",
    "OPENED": "op",
    "LAST_CREDENTIAL_CHANGE": "lc",
    "LAST_PAYEE_ADD": "lpa",
    "LAST_DEPOSIT": "ld",
    "DEPOSITS": "d",
    "LAST_NEW_DEVICE": "lnd",
    "AMOUNT_PROFILE": "pr",
    "LAST_GEO": "g",
    "EXEMPTIONS": "x",
}


def test_the_stored_keys_never_change() -> None:
    named = {name: getattr(schema, name) for name in STORED_KEYS}
    assert named == STORED_KEYS
    assert set(STORED_KEYS.values()) == schema.KEYS


def _busy_history(make_event) -> Replay:
    """Every kind of event the account state remembers something of."""
    replay = Replay()
    replay(make_event(event_type=EventType.ACCOUNT_OPEN, amount=None, payee=None))
    replay(make_event(event_type=EventType.LOGIN, seconds=10, amount=None, success=False))
    replay(make_event(event_type=EventType.CREDENTIAL_CHANGE, seconds=20, amount=None))
    replay(make_event(event_type=EventType.PAYEE_ADD, seconds=30, amount=None, payee="p2"))
    replay(make_event(event_type=EventType.DEPOSIT, seconds=40, amount="500.00", payee=None))
    for i in range(3):
        replay(make_event(seconds=50 + i, amount="20.00", device=f"d{i}"))
    keys = [ref.key for ref in entities_of(make_event())]
    at = make_event(seconds=52).occurred_at.timestamp()
    for flagged in apply_outcome(replay.states, keys, None, Outcome.FRAUD, at=at):
        replay.states[flagged.key] = flagged
    return replay


def test_update_writes_only_keys_of_the_schema(make_event) -> None:
    replay = _busy_history(make_event)
    written = {key for s in replay.states.values() for key in s.data}
    assert written <= schema.KEYS
    # Every key but the exemption counters (written by the service) is used by now.
    assert set(replay.states["account:acct-1"].data) == schema.KEYS - {schema.EXEMPTIONS}


def test_exemption_counters_change_no_feature(make_event) -> None:
    """The counters ride in the account's state but are no feature: an account with only a
    reset stamp reads as one never seen, and a busy one reads the same with counters."""
    event = make_event(seconds=3600, amount="42.00")
    key = "account:acct-1"
    counters = {schema.EXEMPTIONS: [2, 22_000, "SGD", 1_772_400_000.0]}
    assert compute(event, {key: EntityState(key, 3, counters)}, {}) == compute(event, {}, {})

    replay = _busy_history(make_event)
    plain = dict(replay.states)
    with_counters = {**plain, key: EntityState(key, 9, {**plain[key].data, **counters})}
    assert compute(event, with_counters, {}) == compute(event, plain, {})
    # Updating the account's history keeps its counters as they are.
    account = next(s for s in update(event, with_counters) if s.key == key)
    assert account.data[schema.EXEMPTIONS] == counters[schema.EXEMPTIONS]
