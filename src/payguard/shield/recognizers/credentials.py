"""API keys and secrets (known prefixes, and high-entropy strings near secret context), and
payguard's own tokens, which are recognised as tokens, never as personal data."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from payguard.shield.interfaces import Entity
from payguard.shield.recognizers.base import ALNUM, BaseRecognizer, Candidate, Context, matches

__all__ = [
    "HighEntropySecretRecognizer",
    "KnownSecretRecognizer",
    "PayguardTokenRecognizer",
    "shannon_entropy",
]

_E = r"(?![A-Za-z0-9_\-])"  # and ends here
_WORD_CHARS = ALNUM | set("_-")
_KNOWN = (
    re.compile(rf"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{{16,128}}{_E}"),  # Stripe secret
    re.compile(rf"pk_live_[0-9A-Za-z]{{16,128}}{_E}"),  # Stripe publishable (live)
    re.compile(rf"(?:AKIA|ASIA)[0-9A-Z]{{16}}{_E}"),  # AWS access key id
    re.compile(rf"gh[pousr]_[A-Za-z0-9]{{36,251}}{_E}"),  # GitHub tokens
    re.compile(rf"github_pat_[A-Za-z0-9_]{{22,255}}{_E}"),
    re.compile(rf"xox[abposr]-[A-Za-z0-9\-]{{10,250}}{_E}"),  # Slack
    re.compile(rf"AIza[0-9A-Za-z_\-]{{35}}{_E}"),  # Google API key
    re.compile(  # JWT: header, claims, signature
        rf"eyJ[A-Za-z0-9_\-]{{8,4096}}\.eyJ[A-Za-z0-9_\-]{{8,8192}}\.[A-Za-z0-9_\-]{{8,1024}}{_E}"
    ),
    # A PEM private key, through its END line when that comes within 16 KiB.
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----"
        r"(?:[A-Za-z0-9+/=\s:,\-]{0,16384}?-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----)?"
    ),
)  # fmt: skip
#: Where each of `_KNOWN` starts: no match of any of them can start before the first match
#: of this one (a test checks every pattern's prefix is here).
_KNOWN_PREFIX = re.compile(
    r"(?:sk|rk)_(?:live|test)_|pk_live_|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|eyJ"
    r"|-----BEGIN "
)


class KnownSecretRecognizer(BaseRecognizer):
    """API keys and credentials by their published prefixes (Stripe `sk_live_`, AWS `AKIA`,
    GitHub `ghp_`, Slack `xoxb-`, Google `AIza`, JWTs, PEM private keys): 0.95."""

    name = "known_secret"
    entity = Entity.SECRET

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        first = _KNOWN_PREFIX.search(text, start, end)
        if first is None:
            return  # no prefix, no secret: one pass instead of one per kind
        for regex in _KNOWN:
            for match in matches(regex, text, first.start(), end, _WORD_CHARS):
                yield match.start(), match.end(), 0.95


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    if not text:
        return 0.0
    length = len(text)
    return -sum(n / length * math.log2(n / length) for n in Counter(text).values())


_TOKEN_CHARS = r"A-Za-z0-9+/_\-"  # noqa: S105 - a character class, not a secret
#: 32-512 characters of the base64 / hex / url-safe alphabets (and base64 padding); a longer
#: run is not one.
_OPAQUE = re.compile(rf"[{_TOKEN_CHARS}]{{32,512}}={{0,2}}(?![{_TOKEN_CHARS}=])")
_OPAQUE_CHARS = ALNUM | set("+/_-")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_MIN_BITS = 3.5  # base64 / mixed-case strings; English words and paths score lower
_MIN_HEX_BITS = 3.0  # hex digests: 16 symbols, at most 4 bits


class HighEntropySecretRecognizer(BaseRecognizer):
    """High-entropy strings of at least 32 characters (Shannon entropy ≥ 3.5 bits per
    character, 3.0 for hex; letters and digits both present; not a UUID) near key, secret,
    token or password context: 0.2 alone, 0.65 with context."""

    name = "high_entropy_secret"
    context_only = True
    longest = 520
    entity = Entity.SECRET
    context = Context(
        ("key", "api key", "apikey", "api_key", "secret", "client_secret", "token",
         "access token", "access_token", "password", "passwd", "pwd", "bearer",
         "authorization", "credential", "credentials", "private", "密钥", "密码", "令牌"),
        boost=0.45,
    )  # fmt: skip

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in matches(_OPAQUE, text, start, end, _OPAQUE_CHARS):
            value = match.group()
            if _UUID.fullmatch(value) or value.startswith("tok_"):
                continue
            if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
                continue
            floor = _MIN_HEX_BITS if _HEX.fullmatch(value) else _MIN_BITS
            if shannon_entropy(value) >= floor:
                yield match.start(), match.end(), 0.2


#: The kinds the vault tokenizes (`vault.kinds.Kind`), as they appear in vault tokens.
_VAULT_KINDS = ("pan", "account", "phone", "id_number", "email", "generic")
#: A random vault token: `tok_<kind>_<26 lower-case base32>` (`vault.formats.new_vault_token`).
_VAULT_TOKEN = re.compile(rf"tok_(?:{'|'.join(_VAULT_KINDS)})_[a-z2-7]{{26}}(?![A-Za-z0-9_])")
#: A card number in free text after the API tokenized it (`wire.schemas.card_in_text`):
#: `[card 411111******1111 token <token>]`.
_CARD_IN_TEXT = re.compile(r"\[card [0-9]{6}\*{2,9}[0-9]{4} token [A-Za-z0-9_]{1,64}\]")


class PayguardTokenRecognizer(BaseRecognizer):
    """payguard's own tokens: vault tokens and the card form the API writes into free text
    (1.0). The scanner drops every other finding that overlaps one, so a token is never
    reported, masked or tokenized again as personal data. Format-preserving tokens are not
    found here: a card, IBAN or resident-id token fails its check digit, so nothing finds
    it; a phone token is shaped like a real number and is found as a phone."""

    name = "payguard_token"
    entity = Entity.PAYGUARD_TOKEN

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in matches(_VAULT_TOKEN, text, start, end, _WORD_CHARS):
            yield match.start(), match.end(), 1.0
        for match in _CARD_IN_TEXT.finditer(text, start, end):
            yield match.start(), match.end(), 1.0
