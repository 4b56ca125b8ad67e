"""Phone numbers (Chinese and international), email addresses and IP addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from payguard.core.ip import parse_address
from payguard.shield.interfaces import Entity
from payguard.shield.recognizers.base import (
    ALNUM,
    BaseRecognizer,
    Candidate,
    Context,
    matches,
)
from payguard.shield.recognizers.validators import e164_valid

__all__ = [
    "ChinaPhoneRecognizer",
    "EmailRecognizer",
    "InternationalPhoneRecognizer",
    "IpAddressRecognizer",
]

_PHONE_CONTEXT = (
    "phone", "tel", "telephone", "mobile", "cell", "call", "contact", "whatsapp", "sms",
    "电话", "手机", "手机号", "联系电话", "联系方式", "号码", "致电", "微信", "telefon",
    "handy", "mobil", "téléphone", "portable", "tél",
)  # fmt: skip

#: A Chinese mobile number: 1[3-9] and 9 more digits, optionally after +86 / 0086 / (+86),
#: in 3-4-4 groups with a space or hyphen or none.
_CN_MOBILE = re.compile(r"1[3-9][0-9](?:[ \-]?[0-9]{4}){2}(?![0-9A-Za-z])")
_CN_PREFIX = re.compile(r"(?:(?:\+|00)86|\(\+?86\))[ \-]?\Z")
#: A Chinese landline: a trunk 0, a 2-3 digit area code, a hyphen or brackets, 7-8 digits.
_CN_LANDLINE = re.compile(
    r"(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2}-) ?[2-9][0-9]{2,3}[ \-]?[0-9]{4}"
    r"(?:-[0-9]{1,4})?(?![0-9A-Za-z\-])"
)


_NOT_BEFORE_PHONE = ALNUM | {"+"}


#: phonenumbers' metadata for China: the general shape of a national number and the
#: patterns of each type (mobile, fixed line, toll free, ...). A number is valid when it has
#: the shape and one type's pattern, as `phonenumbers.is_valid_number` decides, read here
#: once instead of parsing each number (a test checks the two agree).
def _cn_patterns() -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...]]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None and metadata.general_desc is not None
    shape = metadata.general_desc.national_number_pattern
    assert shape is not None
    kinds = (
        metadata.fixed_line, metadata.mobile, metadata.toll_free, metadata.premium_rate,
        metadata.shared_cost, metadata.personal_number, metadata.voip, metadata.pager,
        metadata.uan, metadata.voicemail,
    )  # fmt: skip
    return re.compile(shape), tuple(
        re.compile(kind.national_number_pattern)
        for kind in kinds
        if kind is not None and kind.national_number_pattern
    )


_CN_SHAPE, _CN_TYPES = _cn_patterns()


def _cn_mobile_valid(text: str) -> bool:
    """Whether the 11 digits of a Chinese mobile number (separators and all) are in an
    allocated range."""
    digits = "".join(char for char in text if char.isdigit())[-11:]
    return _CN_SHAPE.fullmatch(digits) is not None and any(
        kind.fullmatch(digits) is not None for kind in _CN_TYPES
    )


class ChinaPhoneRecognizer(BaseRecognizer):
    """Chinese mobile numbers (checked against the allocated ranges with phonenumbers; 0.75,
    0.95 with +86/0086) and landlines with their area code (0.55)."""

    name = "cn_phone"
    entity = Entity.PHONE
    context = Context(_PHONE_CONTEXT, boost=0.2)

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in _CN_MOBILE.finditer(text, start, end):
            low, high = match.span()
            prefix = _CN_PREFIX.search(text, max(0, low - 7), low)
            first = prefix.start() if prefix is not None else low
            if first > 0 and text[first - 1] in _NOT_BEFORE_PHONE:
                continue
            if _cn_mobile_valid(match.group()):
                yield first, high, 0.95 if prefix is not None else 0.75
        for match in matches(_CN_LANDLINE, text, start, end, ALNUM):
            yield match.start(), match.end(), 0.55


#: A number written with its international prefix (+ or 00), then digits, spaces, dots,
#: hyphens and brackets; bounded, so a failed match costs constant work.
_INTERNATIONAL = re.compile(r"(?:\+|00)[1-9][0-9 ().\-]{5,20}[0-9]")
#: A North American number with separators: (NXX) XXX-XXXX, NXX-XXX-XXXX, NXX.XXX.XXXX,
#: optionally after +1, 1 or 001, optionally with an extension.
_NANP = re.compile(
    r"(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[0-9]{3}"
    r"[ .\-][0-9]{4}(?: ?(?:x|ext\.?) ?[0-9]{1,5})?(?![0-9A-Za-z])"
)
_NANP_PREFIX = re.compile(r"(?:\+?1|001)[ .\-]?\Z")
_CN_MOBILE_PREFIXED = re.compile(r"(?:\+|00)86[ \-]?1[3-9]")
_NOT_BEFORE_NANP = ALNUM | set("+-.")
_GROUP_END = re.compile(r"[0-9](?=[ ().\-])")


class InternationalPhoneRecognizer(BaseRecognizer):
    """Phone numbers with their country code (`+44 20 7946 0958`, `0049 30 1234567`),
    valid for their country per phonenumbers (0.85), and North American numbers written
    with separators (0.6). When the digits run on, the longest valid prefix ending at a
    group boundary is the finding."""

    name = "intl_phone"
    entity = Entity.PHONE
    context = Context(_PHONE_CONTEXT, boost=0.2)

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in matches(_INTERNATIONAL, text, start, end, _NOT_BEFORE_PHONE):
            low, high = match.span()
            if _CN_MOBILE_PREFIXED.match(text, low):
                continue  # Chinese mobile numbers are the Chinese recognizer's
            ends = [high, *[m.end() for m in _GROUP_END.finditer(text, low, high)][::-1]]
            for stop in ends[:3]:
                if e164_valid(text[low:stop]):
                    yield low, stop, 0.85
                    break
        for match in _NANP.finditer(text, start, end):
            low, high = match.span()
            prefix = _NANP_PREFIX.search(text, max(0, low - 5), low)
            first = prefix.start() if prefix is not None else low
            if first == 0 or text[first - 1] not in _NOT_BEFORE_NANP:
                yield first, high, 0.6


_EMAIL_AT = re.compile("@")
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
_DOMAIN = re.compile(r"[A-Za-z0-9.\-]{1,253}")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\Z")
_LOCAL_MAX = 64


class EmailRecognizer(BaseRecognizer):
    """Email addresses: a local part of at most 64 characters and a domain of at least two
    labels ending in a letters-only top-level label (0.9). Found outward from each `@` (a
    bounded walk each way that stops at the previous or next `@`), so `a@a@a@...` is linear."""

    name = "email"
    entity = Entity.EMAIL
    context = Context(
        ("email", "e-mail", "mail", "courriel", "邮箱", "邮件", "电子邮件"), boost=0.1
    )

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for at_match in _EMAIL_AT.finditer(text, start, end):
            at = at_match.start()
            low = at
            while low > 0 and at - low < _LOCAL_MAX + 1 and text[low - 1] in _LOCAL_CHARS:
                low -= 1
            if low > 0 and text[low - 1] in _LOCAL_CHARS:
                continue  # a local part longer than 64 characters
            while low < at and text[low] in ".'":
                low += 1
            local = text[low:at]
            if not local or ".." in local:
                continue
            domain_match = _DOMAIN.match(text, at + 1)
            if domain_match is None:
                continue
            domain = domain_match.group().rstrip(".-")
            labels = domain.split(".")
            if len(labels) < 2 or not labels[-1].isalpha() or len(labels[-1]) < 2:
                continue
            if all(_LABEL.match(label) for label in labels):
                yield low, at + 1 + len(domain), 0.9


_IPV4 = re.compile(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z]|\.[0-9])")
#: Two colons with at most four hex digits between: where an IPv6 address may be; the
#: address is then the run of hex digits, colons and dots around them (at most 45).
_IPV6_CORE = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_IPV6_MAX = 45


_NOT_BEFORE_IP = ALNUM | set(".:")


class IpAddressRecognizer(BaseRecognizer):
    """IPv4 (dotted decimal, no leading zeros: 0.6) and IPv6 (0.8) addresses, each checked
    by `ipaddress` (through `core.ip`). Version strings such as `v1.2.3.4` are not
    addresses (a letter before the digits); `1.2.3.4` alone is one."""

    name = "ip_address"
    entity = Entity.IP_ADDRESS
    context = Context(("ip", "ip address", "ipv4", "ipv6", "host", "client", "地址"), boost=0.2)

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        # Counting in C first: an IPv4 address has three dots, an IPv6 one two colons.
        if text.count(".", start, end) >= 3:
            for match in matches(_IPV4, text, start, end, _NOT_BEFORE_IP):
                if _address(match.group()):
                    yield match.start(), match.end(), 0.6
        if text.count(":", start, end) < 2:
            return
        reached = start
        for match in _IPV6_CORE.finditer(text, start, end):
            if match.start() < reached:
                continue  # inside the run already read
            low, high = match.start(), match.end()
            while low > 0 and high - low < _IPV6_MAX and text[low - 1] in _IPV6_CHARS:
                low -= 1
            while high < end and high - low < _IPV6_MAX and text[high] in _IPV6_CHARS:
                high += 1
            reached = high
            while high > low and text[high - 1] == ".":
                high -= 1  # a full stop after the address
            before = text[low - 1] if low > 0 else " "
            after = text[high] if high < len(text) else " "
            if before in _IPV6_CHARS or before.isalnum() or after in ALNUM or after == ":":
                continue
            if _address(text[low:high]):
                yield low, high, 0.8


def _address(candidate: str) -> bool:
    try:
        parse_address(candidate)
    except ValueError:
        return False
    return True
