from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.errors import ValidationFailed
from payguard.devices.apps import (
    KNOWN_PAYMENT_PACKAGES,
    AppCheck,
    GenuineApp,
    check_app,
    edit_distance,
    lookalike_of,
    normalize_digest,
)

GOOD = hashlib.sha256(b"partner release certificate").hexdigest()
OLD = hashlib.sha256(b"partner previous certificate").hexdigest()
EVIL = hashlib.sha256(b"repackager certificate").hexdigest()
PARTNER = (GenuineApp("com.example.wallet", (GOOD, OLD)),)


# --- digests -------------------------------------------------------------------------------


def test_normalize_digest_strips_colons_and_lowercases() -> None:
    keytool = ":".join(GOOD[i : i + 2] for i in range(0, 64, 2)).upper()
    assert normalize_digest(keytool) == GOOD
    assert normalize_digest(f"  {GOOD.upper()} ") == GOOD


def test_normalize_digest_reads_play_integrity_base64url() -> None:
    raw = bytes.fromhex(GOOD)
    assert normalize_digest(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == GOOD
    assert normalize_digest(base64.b64encode(raw).decode()) == GOOD


@pytest.mark.parametrize("value", ["", "abc", GOOD[:-1], GOOD + "0", "z" * 64, "A" * 42])
def test_normalize_digest_refuses_what_is_not_sha256(value: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_digest(value)
    assert caught.value.field == "signing_digest"


# --- the distance ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("", "abc", 3),
        ("paypal", "paypal", 0),
        ("paypal", "paypa1", 1),  # substitution
        ("paypal", "payal", 1),  # deletion
        ("paypal", "paypall", 1),  # insertion
        ("paypal", "pyapal", 1),  # adjacent swap
        ("ca", "abc", 3),  # optimal string alignment: no edits inside a swapped pair
        ("kitten", "sitting", 3),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


@given(st.text(max_size=12), st.text(max_size=12))
def test_edit_distance_is_a_bounded_symmetric_measure(a: str, b: str) -> None:
    d = edit_distance(a, b)
    assert d == edit_distance(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert (d == 0) == (a == b)


# --- lookalikes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "brand"),
    [
        ("com.paypa1.android.p2pmobile", "com.paypal.android.p2pmobile"),  # 1 for l
        ("com.paypal.android.p2pmobi1e", "com.paypal.android.p2pmobile"),
        ("com.paypal.andriod.p2pmobile", "com.paypal.android.p2pmobile"),  # swapped letters
        ("com.Paypal.android.p2pmobile", "com.paypal.android.p2pmobile"),  # case
        ("com.paypal.secure.login", "com.paypal.android.p2pmobile"),  # brand, dressed up
        ("com.paypal.android", "com.paypal.android.p2pmobile"),
        ("com.secure.paypal", "com.paypal.android.p2pmobile"),  # brand in another namespace
        ("com.paypalsecure.app", "com.paypal.android.p2pmobile"),
        ("org.paypal_login.verify", "com.paypal.android.p2pmobile"),
        ("com.eg.android.AIipayGphone", "com.eg.android.AlipayGphone"),  # capital I for l
        ("com.eg.android.alipaygphone", "com.eg.android.AlipayGphone"),
        ("com.phonepe.app.secure", "com.phonepe.app"),
        ("com.phonepe.app2", "com.phonepe.app"),
        ("com.tencent.rnm", "com.tencent.mm"),  # rn for m
        ("com.wechat.pay", "com.tencent.mm"),
        ("com.venmoo", "com.venmo"),
        ("com.venm0", "com.venmo"),
        ("com.cashapp.login", "com.squareup.cash"),
        ("com.google.android.apps.walletnfcre1", "com.google.android.apps.walletnfcrel"),
        ("com.nu.productlon", "com.nu.production"),
        ("0vo.id", "ovo.id"),
        ("my.com.tngdigital.verify", "my.com.tngdigital.ewallet"),
        ("com.transferwise.login", "com.transferwise.android"),
        ("net.one97.paytrn", "net.one97.paytm"),
        ("jp.ne.paypay.android.app.bonus", "jp.ne.paypay.android.app"),
    ],
)
def test_lookalikes_are_caught(package: str, brand: str) -> None:
    assert lookalike_of(package) == brand
    verdict = check_app(package, GOOD, ())
    assert verdict == AppCheck(
        genuine=None, fake=False, lookalike_of=brand, reason=f"{package} imitates {brand}"
    )


@pytest.mark.parametrize(
    "package",
    [
        "com.example.notes",
        "org.mozilla.firefox",
        "com.android.chrome",
        "com.whatsapp",
        "com.facebook.katana",
        "com.google.android.youtube",
        "com.google.android.gm",
        "com.anydesk.anydeskandroid",
        "com.revolutionapps.timer",  # "revolut" inside a longer word
        "com.paytmmall",  # "paytm" followed by a word that is not decoration
        "com.revolut.business",  # the publisher's own other app
        "com.phonepe.merchant",
        "com.tencent.mobileqq",
        "com.tencent.mtt",
        "hk.alipay.wallet",  # AlipayHK, a known neighbour
        "com.grabtaxi.driver2",
        "id.data",  # short packages: only exact look-alikes count
        "ovo.io",
        "com.kakao.talk",
        "",
    ],
)
def test_honest_packages_are_not_lookalikes(package: str) -> None:
    assert lookalike_of(package) is None


@pytest.mark.parametrize("brand", KNOWN_PAYMENT_PACKAGES)
def test_a_brand_is_never_its_own_or_another_brands_lookalike(brand: str) -> None:
    assert lookalike_of(brand) is None
    assert check_app(brand, GOOD, ()).lookalike_of is None


def test_lookalike_brands_and_neighbours_are_the_callers() -> None:
    assert lookalike_of("com.acme.superpay.login", ["com.acme.superpay"]) == "com.acme.superpay"
    assert lookalike_of("com.acme.superpey", ["com.acme.superpay"]) == "com.acme.superpay"
    assert lookalike_of("com.paypa1.android.p2pmobile", ["com.acme.superpay"]) is None
    assert lookalike_of("hk.alipay.wallet", neighbours=()) == "com.eg.android.AlipayGphone"


# --- genuine and fake apps -------------------------------------------------------------------


def test_genuine_app() -> None:
    assert check_app("com.example.wallet", GOOD, PARTNER) == AppCheck(
        genuine=True, fake=False, lookalike_of=None, reason=None
    )
    keytool = ":".join(OLD[i : i + 2] for i in range(0, 64, 2)).upper()
    assert check_app("com.example.wallet", keytool, PARTNER).genuine is True


def test_right_package_wrong_certificate_is_fake() -> None:
    verdict = check_app("com.example.wallet", EVIL, PARTNER)
    assert verdict.genuine is False
    assert verdict.fake is True
    assert verdict.reason == "com.example.wallet is signed with a certificate not registered for it"


def test_unparseable_digest_on_a_registered_package_is_fake() -> None:
    assert check_app("com.example.wallet", "not-a-digest", PARTNER).fake is True


def test_registered_package_without_a_digest_is_undecided() -> None:
    for missing in (None, "", "  "):
        verdict = check_app("com.example.wallet", missing, PARTNER)
        assert verdict == AppCheck(
            genuine=None, fake=False, lookalike_of=None, reason="no signing digest reported"
        )


def test_unregistered_package_is_not_genuine() -> None:
    verdict = check_app("com.example.other", EVIL, PARTNER)
    assert verdict == AppCheck(
        genuine=False,
        fake=False,
        lookalike_of=None,
        reason="com.example.other is not a registered genuine app",
    )


def test_another_package_signed_by_the_partner_is_genuine() -> None:
    """The partner's other flavours (a beta, a lite build) share its signing key."""
    assert check_app("com.example.wallet.beta", GOOD, PARTNER).genuine is True


def test_nothing_registered_tells_nothing() -> None:
    assert check_app("com.example.wallet", EVIL, ()) == AppCheck(
        genuine=None, fake=False, lookalike_of=None, reason=None
    )
    assert check_app(None, None, PARTNER) == AppCheck(
        genuine=None, fake=False, lookalike_of=None, reason=None
    )


def test_a_registered_package_is_never_a_lookalike() -> None:
    partner = (GenuineApp("com.paypal.secure.login", (GOOD,)),)
    assert check_app("com.paypal.secure.login", GOOD, partner).lookalike_of is None


def test_unregistered_lookalike_is_both_unknown_and_a_lookalike() -> None:
    verdict = check_app("com.paypa1.android.p2pmobile", EVIL, PARTNER)
    assert verdict.genuine is False
    assert verdict.fake is False
    assert verdict.lookalike_of == "com.paypal.android.p2pmobile"
