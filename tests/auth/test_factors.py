"""`assurance()`: the level a set of passed factors earns, against the NIST SP 800-63B table in
`payguard.auth.factors`' docstring, and the step-up methods the engine offers for each level."""

from __future__ import annotations

import itertools

import pytest

from payguard.auth.factors import POSSESSION, FactorKind, Passed, assurance
from payguard.core.decisions import STEP_UP_METHODS, AssuranceLevel

KNOWN = frozenset({FactorKind.PASSWORD})
HELD = frozenset({FactorKind.TOTP, FactorKind.RECOVERY_CODE, FactorKind.PASSKEY, FactorKind.DEVICE})


def documented_level(kinds: frozenset[FactorKind], passkey_uv: bool) -> int:
    """The module docstring, read literally:

    AAL3: a passkey with user verification and the bound device's signature together.
    AAL2: something known (the password) and something held; or a passkey with UV alone.
    AAL1: any one factor.
    """
    verified_passkey = FactorKind.PASSKEY in kinds and passkey_uv
    if verified_passkey and FactorKind.DEVICE in kinds:
        return 3
    if verified_passkey or (kinds & KNOWN and kinds & HELD):
        return 2
    return 1 if kinds else 0


def _cases() -> list[tuple[tuple[FactorKind, ...], bool, int]]:
    cases = []
    for size in range(4):
        for combination in itertools.combinations(list(FactorKind), size):
            variants = [False, True] if FactorKind.PASSKEY in combination else [False]
            for uv in variants:
                cases.append((combination, uv, documented_level(frozenset(combination), uv)))
    return cases


CASES = _cases()


def _id(case: tuple[tuple[FactorKind, ...], bool, int]) -> str:
    kinds, uv, level = case
    names = [f"{k.value}{'_uv' if uv and k == FactorKind.PASSKEY else ''}" for k in kinds]
    return f"{'+'.join(names) or 'none'}->AAL{level}"


def passed(kinds: tuple[FactorKind, ...], uv: bool) -> list[Passed]:
    return [
        Passed(kind, credential_id=f"cred-{kind.value}", user_verified=uv and kind == "passkey")
        for kind in kinds
    ]


def test_the_table_covers_every_combination_of_up_to_three_kinds() -> None:
    # 1 + 5 + 10 + 10 combinations; those with a passkey (0 + 1 + 4 + 6) twice (UV or not).
    assert len(CASES) == 26 + 11
    assert POSSESSION == HELD  # the module's own notion of "held" is the docstring's


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_assurance_matches_the_documented_levels(
    case: tuple[tuple[FactorKind, ...], bool, int],
) -> None:
    kinds, uv, expected = case
    assert assurance(passed(kinds, uv)) == expected
    # The order factors were presented in does not matter, nor does the input being a
    # one-shot iterator.
    for order in itertools.permutations(passed(kinds, uv)):
        assert assurance(iter(order)) == expected


@pytest.mark.parametrize(
    ("factors", "level"),
    [
        ([], 0),
        ([Passed(FactorKind.PASSWORD)], 1),
        ([Passed(FactorKind.RECOVERY_CODE)], 1),
        ([Passed(FactorKind.PASSKEY)], 1),
        ([Passed(FactorKind.PASSKEY, user_verified=True)], 2),
        ([Passed(FactorKind.PASSWORD), Passed(FactorKind.TOTP)], 2),
        ([Passed(FactorKind.PASSWORD), Passed(FactorKind.RECOVERY_CODE)], 2),
        ([Passed(FactorKind.PASSWORD), Passed(FactorKind.PASSKEY)], 2),
        ([Passed(FactorKind.PASSWORD), Passed(FactorKind.DEVICE)], 2),
        # Two held factors are not two *kinds* of factor: still one.
        ([Passed(FactorKind.TOTP), Passed(FactorKind.DEVICE)], 1),
        (
            [Passed(FactorKind.TOTP), Passed(FactorKind.RECOVERY_CODE), Passed(FactorKind.PASSKEY)],
            1,
        ),
        # A passkey without UV on the bound device is not AAL3 (nor even AAL2).
        ([Passed(FactorKind.PASSKEY), Passed(FactorKind.DEVICE)], 1),
        ([Passed(FactorKind.PASSKEY, user_verified=True), Passed(FactorKind.DEVICE)], 3),
        (
            [
                Passed(FactorKind.PASSWORD),
                Passed(FactorKind.PASSKEY, user_verified=True),
                Passed(FactorKind.DEVICE),
            ],
            3,
        ),
        # The password adds nothing to AAL3's requirement.
        ([Passed(FactorKind.PASSWORD), Passed(FactorKind.PASSKEY), Passed(FactorKind.DEVICE)], 2),
    ],
)
def test_spot_checks_written_out_by_hand(factors: list[Passed], level: int) -> None:
    assert assurance(factors) == level


def test_user_verification_counts_only_on_a_passkey() -> None:
    # A device, TOTP or password marked "user verified" is not a multi-factor authenticator.
    for kind in FactorKind:
        if kind == FactorKind.PASSKEY:
            continue
        assert assurance([Passed(kind, user_verified=True)]) == 1
        with_device = [Passed(kind, user_verified=True), Passed(FactorKind.DEVICE)]
        assert assurance(with_device) == documented_level(
            frozenset({kind, FactorKind.DEVICE}), passkey_uv=False
        )
        assert assurance(with_device) < 3


def test_one_verified_passkey_among_several_is_enough() -> None:
    two = [Passed(FactorKind.PASSKEY, "a"), Passed(FactorKind.PASSKEY, "b", user_verified=True)]
    assert assurance(two) == 2
    assert assurance([*two, Passed(FactorKind.DEVICE)]) == 3


# -- STEP_UP_METHODS ---------------------------------------------------------------------


def parse_method(method: str) -> list[Passed]:
    """`"password+totp"` → the factors it names; `passkey_uv` is a passkey with UV."""
    factors = []
    for part in method.split("+"):
        if part == "passkey_uv":
            factors.append(Passed(FactorKind.PASSKEY, user_verified=True))
        else:
            factors.append(Passed(FactorKind(part)))
    return factors


METHODS = [(level, method) for level, names in STEP_UP_METHODS.items() for method in names]


def test_every_level_has_methods() -> None:
    assert set(STEP_UP_METHODS) == set(AssuranceLevel)
    assert all(STEP_UP_METHODS[level] for level in AssuranceLevel)


@pytest.mark.parametrize(
    ("level", "method"), METHODS, ids=[f"AAL{int(lv)}:{m}" for lv, m in METHODS]
)
def test_each_named_method_earns_at_least_its_level(level: AssuranceLevel, method: str) -> None:
    factors = parse_method(method)
    kinds = [f.kind for f in factors]
    assert len(set(kinds)) == len(kinds), "a method names each factor kind once"
    assert assurance(factors) >= int(level)
    assert documented_level(frozenset(kinds), any(f.user_verified for f in factors)) >= int(level)


@pytest.mark.parametrize("method", STEP_UP_METHODS[AssuranceLevel.AAL1])
def test_aal1_methods_are_single_factors(method: str) -> None:
    assert "+" not in method
    assert FactorKind(method)  # a plain factor kind, no UV requirement


def test_each_method_earns_exactly_its_level() -> None:
    # No method is listed under a level below the one it earns (the list would undersell it).
    for method in STEP_UP_METHODS[AssuranceLevel.AAL1]:
        assert assurance(parse_method(method)) == 1
    for method in STEP_UP_METHODS[AssuranceLevel.AAL2]:
        assert assurance(parse_method(method)) == 2
    for method in STEP_UP_METHODS[AssuranceLevel.AAL3]:
        assert assurance(parse_method(method)) == 3
