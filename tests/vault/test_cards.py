"""Card numbers tokenized for assessments: deterministic per tenant and key version, the
parameters the vault's token service uses, masked first six and last four."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from payguard.adapters.keys.local import LocalKeyFile
from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.audit.interfaces import Actor
from payguard.audit.service import AuditService
from payguard.core.clock import FrozenClock
from payguard.core.errors import ValidationFailed
from payguard.core.pan import luhn_valid
from payguard.vault.cards import PAN_PURPOSE, CardTokenizer
from payguard.vault.formats import PanFormat, detokenize, tweak_for
from payguard.vault.interfaces import CardTokenizing
from payguard.vault.keys import Keyring
from payguard.vault.kinds import Kind

PAN = "4111111111111111"


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyring]:
    engine = create_sql_engine(f"sqlite:///{tmp_path_factory.mktemp('cards') / 'payguard.db'}")
    migrate(engine)
    clock = FrozenClock(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))
    source = LocalKeyFile(tmp_path_factory.mktemp("kek") / "vault.key", create=True)
    yield Keyring(
        SqlDataKeyRepository(engine),
        source,
        audit=AuditService(SqlAuditRepository(engine), clock),
        clock=clock,
        ttl=60,
    )
    engine.dispose()


@pytest.fixture
def tenant() -> str:
    return f"t-{os.urandom(8).hex()}"


def test_the_tokenizer_is_the_port(keyring: Keyring, tenant: str) -> None:
    cards: CardTokenizing = CardTokenizer(keyring)  # mypy checks the shape
    assert cards.tokenize(tenant, PAN, field="x").bin == "411111"


@pytest.mark.parametrize("spelled", [PAN, "4111 1111 1111 1111", "4111-1111-1111-1111", f" {PAN} "])
def test_spellings_of_one_card_get_one_token(keyring: Keyring, tenant: str, spelled: str) -> None:
    cards = CardTokenizer(keyring)
    assert cards.tokenize(tenant, spelled) == cards.tokenize(tenant, PAN)


def test_token_masked_and_bin(keyring: Keyring, tenant: str) -> None:
    card = CardTokenizer(keyring).tokenize(tenant, PAN)
    assert card.masked == "411111******1111"
    assert card.bin == "411111"
    assert len(card.token) == 16 and card.token.isdigit()
    assert card.token.endswith("1111")  # the last four are kept
    assert card.token != PAN
    assert not luhn_valid(card.token)  # a token is never mistaken for a card number


def test_the_token_is_the_token_services_ff1_token(keyring: Keyring, tenant: str) -> None:
    """The fixed parameters: `fpe:pan` key, tweak with no scope, last four kept, no BIN."""
    card = CardTokenizer(keyring).tokenize(tenant, PAN)
    version, key = keyring.data_key(tenant, PAN_PURPOSE)
    expected = PanFormat(keep_bin=False, keep_last4=True).tokenize(
        PAN, key=key, version=version, tweak=tweak_for(tenant, Kind.PAN, "")
    )
    assert card.token == expected
    assert detokenize(
        PanFormat(), card.token, keys={version: key}, tweak=tweak_for(tenant, Kind.PAN, "")
    ) == (PAN, version)


def test_tenants_get_different_tokens(keyring: Keyring, tenant: str) -> None:
    cards = CardTokenizer(keyring)
    assert cards.tokenize(tenant, PAN).token != cards.tokenize(tenant + "-b", PAN).token


@pytest.mark.parametrize(
    "bad",
    ["4111111111111112", "4111", "4111 1111 1111 111a", "٤١١١١١١١١١١١١١١١", "1" * 20, ""],
)
def test_not_a_card_number_names_the_field_and_not_the_number(
    keyring: Keyring, tenant: str, bad: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        CardTokenizer(keyring).tokenize(tenant, bad)
    assert refused.value.field == "card.pan"
    assert not bad or bad.replace(" ", "") not in refused.value.message


def test_rotation_gives_the_card_a_new_token(keyring: Keyring, tenant: str) -> None:
    cards = CardTokenizer(keyring)
    before = cards.tokenize(tenant, PAN)
    keyring.rotate(actor=Actor.system("cli"), tenant_id=tenant, purpose=PAN_PURPOSE)
    after = cards.tokenize(tenant, PAN)
    assert after.token != before.token
    assert after.masked == before.masked


def test_cost_per_call(keyring: Keyring, tenant: str) -> None:
    """Not a timing assertion: prints the cost per call (see docs/vault.md), for cards seen
    for the first time and for a card seen again (the recent answers)."""
    cards = CardTokenizer(keyring)
    cards.tokenize(tenant, PAN)
    n = 2000
    fresh = [_card(i) for i in range(n)]
    started = time.perf_counter()
    for pan in fresh:
        cards.tokenize(tenant, pan)
    first = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        cards.tokenize(tenant, PAN)
    again = (time.perf_counter() - started) / n
    print(f"CardTokenizer.tokenize: {first * 1e6:.1f} µs new, {again * 1e6:.1f} µs seen again")


def _card(n: int) -> str:
    body = f"4{n:014d}"
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def test_a_card_seen_again_gets_the_same_answer_and_the_cache_holds_no_number(
    keyring: Keyring, tenant: str
) -> None:
    cards = CardTokenizer(keyring)
    first = cards.tokenize(tenant, "4111 1111 1111 1111")
    assert cards.tokenize(tenant, "4111 1111 1111 1111") == first
    assert cards.tokenize(tenant, PAN) == first  # another spelling: computed, the same
    held = repr(cards._recent)
    assert PAN not in held and "4111 1111" not in held
    assert cards.tokenize(f"{tenant}-b", PAN).token != first.token  # per tenant


def test_the_recent_answers_are_bounded(
    keyring: Keyring, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("payguard.vault.cards.RECENT", 3)
    cards = CardTokenizer(keyring)
    for i in range(10):
        cards.tokenize(tenant, _card(i))
    assert len(cards._recent) <= 3


def test_a_rotation_in_another_process_shows_within_the_ttl(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'payguard.db'}")
    migrate(engine)
    source = LocalKeyFile(tmp_path / "vault.key", create=True)

    def process(clock: FrozenClock) -> Keyring:
        return Keyring(
            SqlDataKeyRepository(engine),
            source,
            audit=AuditService(SqlAuditRepository(engine), clock),
            clock=clock,
            ttl=60,
        )

    here_clock = FrozenClock(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))
    here = CardTokenizer(process(here_clock))
    before = here.tokenize("t1", PAN)
    elsewhere = process(FrozenClock(datetime(2026, 12, 4, 9, 0, tzinfo=UTC)))
    elsewhere.rotate(actor=Actor.system("cli"), tenant_id="t1", purpose=PAN_PURPOSE)
    assert here.tokenize("t1", PAN) == before  # within the TTL: the version held here
    here_clock.advance(timedelta(seconds=61))
    after = here.tokenize("t1", PAN)
    assert after.token != before.token
    assert after.token == CardTokenizer(elsewhere).tokenize("t1", PAN).token
    engine.dispose()
