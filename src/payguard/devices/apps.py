"""Fake and lookalike payment apps: is the installed app the partner's genuine build?

A *fake* app carries a genuine package name but a foreign signing certificate (a repackaged
copy). A *lookalike* carries a package name made to pass for a well-known payment app's:
one or two typos away (`com.paypa1.android.p2pmobile`), the same after swapping look-alike
characters (`AIipay` for `Alipay`), or the brand's name dressed up in another package
(`com.paypal.secure.login`). Everything here is pure: the caller brings the registered apps.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from payguard.core.errors import ValidationFailed

__all__ = [
    "KNOWN_NEIGHBOURS",
    "KNOWN_PAYMENT_PACKAGES",
    "AppCheck",
    "GenuineApp",
    "check_app",
    "edit_distance",
    "lookalike_of",
    "normalize_digest",
]

#: Android packages of widely used payment apps, the brands fakes imitate. A seed list: a
#: deployment passes its own market's brands to `check_app`.
KNOWN_PAYMENT_PACKAGES: tuple[str, ...] = (
    "com.eg.android.AlipayGphone",  # Alipay
    "com.paypal.android.p2pmobile",  # PayPal
    "com.google.android.apps.walletnfcrel",  # Google Wallet
    "com.google.android.apps.nbu.paisa.user",  # Google Pay (India)
    "com.samsung.android.spay",  # Samsung Wallet
    "com.globe.gcash.android",  # GCash
    "com.phonepe.app",  # PhonePe
    "net.one97.paytm",  # Paytm
    "com.safaricom.mpesa.lifestyle",  # M-Pesa
    "com.grabtaxi.passenger",  # Grab (GrabPay)
    "com.tencent.mm",  # WeChat (WeChat Pay)
    "com.venmo",  # Venmo
    "com.squareup.cash",  # Cash App
    "com.revolut.revolut",  # Revolut
    "com.transferwise.android",  # Wise
    "com.nu.production",  # Nubank
    "com.mercadopago.wallet",  # Mercado Pago
    "id.dana",  # DANA
    "ovo.id",  # OVO
    "my.com.tngdigital.ewallet",  # Touch 'n Go eWallet
    "com.kakaopay.app",  # Kakao Pay
    "jp.ne.paypay.android.app",  # PayPay
)

#: Real apps that sit close to a brand's package without imitating it (the brand owner's
#: other apps); never reported as lookalikes. A seed: extend it as false positives show up.
KNOWN_NEIGHBOURS: frozenset[str] = frozenset(
    {
        "hk.alipay.wallet",  # AlipayHK
    }
)

# A brand's distinctive words: a package with one of them as a label, alone or dressed up
# ("paypalsecure", "login_paypal", "paypal2"), passes itself off as the brand. Brands not
# listed get the long, non-generic labels of their package. Words of four letters or less
# ("dana", "ovo") are too common to tell anything.
_TOKENS: Mapping[str, tuple[str, ...]] = {
    "com.eg.android.AlipayGphone": ("alipay",),
    "com.paypal.android.p2pmobile": ("paypal",),
    "com.google.android.apps.walletnfcrel": ("walletnfcrel", "googlewallet", "googlepay"),
    "com.google.android.apps.nbu.paisa.user": ("googlepay",),
    "com.samsung.android.spay": ("samsungpay", "samsungwallet"),
    "com.globe.gcash.android": ("gcash",),
    "com.phonepe.app": ("phonepe",),
    "net.one97.paytm": ("paytm",),
    "com.safaricom.mpesa.lifestyle": ("mpesa",),
    "com.grabtaxi.passenger": ("grabpay",),
    "com.tencent.mm": ("wechat", "weixin"),
    "com.venmo": ("venmo",),
    "com.squareup.cash": ("cashapp",),
    "com.revolut.revolut": ("revolut",),
    "com.transferwise.android": ("transferwise",),
    "com.nu.production": ("nubank",),
    "com.mercadopago.wallet": ("mercadopago",),
    "id.dana": (),
    "ovo.id": (),
    "my.com.tngdigital.ewallet": ("tngdigital",),
    "com.kakaopay.app": ("kakaopay",),
    "jp.ne.paypay.android.app": ("paypay",),
}

_GENERIC_LABELS = frozenset(
    {
        "android", "mobile", "wallet", "ewallet", "apps", "application", "client", "production",
        "passenger", "lifestyle", "global", "official", "secure", "online", "digital",
        "services", "google", "samsung", "tencent", "example",
    }
)  # fmt: skip

# Words fake packages wrap around a brand's name.
_DECORATIONS = frozenset(
    {
        "secure", "security", "login", "signin", "verify", "verification", "update", "support",
        "help", "official", "app", "apps", "pay", "wallet", "mobile", "online", "bonus", "gift",
        "reward", "rewards", "cash", "lite", "pro", "plus", "new", "free", "bank", "service",
        "auth", "account", "web", "android", "go", "my",
    }
)  # fmt: skip

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_B64_DIGEST = re.compile(r"[A-Za-z0-9+/_-]{43}=?")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class GenuineApp:
    """A partner's genuine build: its package and the SHA-256 digests of the certificates
    allowed to sign it (lowercase hex; see `normalize_digest`)."""

    package: str
    signing_digests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppCheck:
    """The verdict on one installed app.

    `genuine` is None when nothing can be told (no genuine app registered, or no package or
    digest reported); `reason` says in plain words why the app is not genuine.
    """

    genuine: bool | None
    fake: bool
    lookalike_of: str | None
    reason: str | None


def normalize_digest(value: str) -> str:
    """A certificate's SHA-256 digest as lowercase hex.

    Accepts hex in any case with or without colons (`AB:CD:...`, as keytool prints it) and
    the base64url form Play Integrity reports (`certificateSha256Digest`).
    """
    text = value.strip()
    hexed = text.replace(":", "").lower()
    if _HEX_DIGEST.fullmatch(hexed):
        return hexed
    if _B64_DIGEST.fullmatch(text):
        padded = text.rstrip("=").replace("+", "-").replace("/", "_") + "="
        try:
            raw = base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 32:
            return raw.hex()
    raise ValidationFailed(
        "a signing digest must be a SHA-256 digest in hex or base64url", field="signing_digest"
    )


def edit_distance(a: str, b: str) -> int:
    """The Damerau-Levenshtein distance of `a` and `b` (optimal string alignment variant):
    insertions, deletions, substitutions and swaps of adjacent characters each cost one."""
    if a == b:
        return 0
    if not a or not b:
        return len(a) + len(b)
    before: list[int] = []  # the row two above
    above = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            row[j] = min(above[j] + 1, row[j - 1] + 1, above[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], before[j - 2] + 1)
        before, above = above, row
    return above[-1]


def _fold(text: str) -> str:
    """`text` with look-alike characters mapped to one form: case, 0/o, 1/l/i, rn/m, vv/w."""
    return (
        text.lower()
        .replace("rn", "m")
        .replace("vv", "w")
        .replace("0", "o")
        .replace("1", "l")
        .replace("i", "l")
    )


_FOLDED_DECORATIONS = frozenset(_fold(word) for word in _DECORATIONS)


def _tokens(brand: str) -> tuple[str, ...]:
    known = _TOKENS.get(brand)
    if known is not None:
        return tuple(_fold(token) for token in known)
    labels = brand.lower().split(".")
    return tuple(
        _fold(label)
        for label in labels[1:]  # the first label is a TLD or the like
        if len(label) >= 5 and label not in _GENERIC_LABELS and not label.isdigit()
    )


def _decoration(text: str) -> bool:
    return text in _FOLDED_DECORATIONS or _DIGITS.fullmatch(text) is not None


def _wears(label: str, token: str) -> bool:
    """Whether a package label is the brand word alone or wrapped in decoration."""
    if label == token:
        return True
    if label.startswith(token) and _decoration(label[len(token) :]):
        return True
    return label.endswith(token) and _decoration(label[: -len(token)])


_SECOND_LEVEL = frozenset({"com", "co", "ne", "or", "net", "org", "ac", "gov"})


def _publisher(labels: Sequence[str]) -> list[str]:
    """The labels naming a package's publisher: `com.paypal`, `my.com.tngdigital`."""
    size = 3 if len(labels) > 2 and labels[1] in _SECOND_LEVEL else 2
    return list(labels[:size])


def _allowed_edits(folded_brand: str) -> int:
    # Short packages sit close to many honest ones; only exact look-alikes count there.
    if len(folded_brand) < 8:
        return 0
    return 1 if len(folded_brand) < 15 else 2


def lookalike_of(
    package: str,
    brands: Sequence[str] = KNOWN_PAYMENT_PACKAGES,
    *,
    neighbours: Collection[str] = KNOWN_NEIGHBOURS,
) -> str | None:
    """The brand package that `package` imitates, or None (always None for a brand's own
    package and for the known `neighbours`)."""
    package = package.strip()
    if not package or package in brands or package in neighbours:
        return None
    folded = _fold(package)
    labels = [label.replace("_", "") for label in folded.split(".")]
    for brand in brands:
        target = _fold(brand)
        if folded == target:
            return brand
        near = abs(len(folded) - len(target)) <= 2
        if near and edit_distance(folded, target) <= _allowed_edits(target):
            return brand
        tokens = [token for token in _tokens(brand) if len(token) >= 5]
        if any(_wears(label, token) for label in labels for token in tokens):
            brand_labels = target.split(".")
            prefix = _publisher(brand_labels)
            if labels[: len(prefix)] != prefix:
                return brand  # the brand's name under someone else's namespace
            # Within the brand's own namespace only a dressed-up copy of its package is a
            # lookalike (com.paypal.secure.login); com.revolut.business is the publisher's.
            added = labels[len(prefix) :]
            if all(label in brand_labels or _decoration(label) for label in added):
                return brand
    return None


def _digest_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalize_digest(value)
    except ValidationFailed:
        return None


def check_app(
    package: str | None,
    digest: str | None,
    genuine: Sequence[GenuineApp],
    *,
    brands: Sequence[str] = KNOWN_PAYMENT_PACKAGES,
    neighbours: Collection[str] = KNOWN_NEIGHBOURS,
) -> AppCheck:
    """Judge the installed app `package` signed with `digest` against the partner's
    registered `genuine` apps and the payment `brands` fakes imitate.

    An app signed with a registered certificate is genuine even under another package (the
    partner's other flavours); a registered package under a foreign certificate is fake.
    """
    package = package.strip() if package else None
    reported = _digest_or_none(digest)  # a malformed digest matches nothing
    registered: dict[str, set[str]] = {}
    for app in genuine:
        digests = registered.setdefault(app.package.strip(), set())
        digests.update(d for d in map(_digest_or_none, app.signing_digests) if d is not None)

    if package is not None and package in registered:
        if not (digest and digest.strip()):
            return AppCheck(
                genuine=None, fake=False, lookalike_of=None, reason="no signing digest reported"
            )
        if reported in registered[package]:
            return AppCheck(genuine=True, fake=False, lookalike_of=None, reason=None)
        return AppCheck(
            genuine=False,
            fake=True,
            lookalike_of=None,
            reason=f"{package} is signed with a certificate not registered for it",
        )
    if reported is not None and any(reported in digests for digests in registered.values()):
        return AppCheck(genuine=True, fake=False, lookalike_of=None, reason=None)

    brand = lookalike_of(package, brands, neighbours=neighbours) if package else None
    verdict = False if registered and package is not None else None
    if brand is not None:
        reason: str | None = f"{package} imitates {brand}"
    elif verdict is False:
        reason = f"{package} is not a registered genuine app"
    else:
        reason = None
    return AppCheck(genuine=verdict, fake=False, lookalike_of=brand, reason=reason)
