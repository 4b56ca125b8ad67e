"""A labelled PII corpus for the Data Shield benchmark, and its scoring.

`generate(seed=..., docs=...)` yields documents shaped like what a payments partner sees:
support chats, transfer memos, KYC notes, merchant onboarding forms, log lines and JSON
snippets, half in English (Faker `en_US`) and half in Chinese (Faker `zh_CN`). Each document
carries its *labels*, the exact character offsets (into the Python string) of every planted
entity, and its *distractors*, planted look-alikes that must not be reported. The same seed
gives the same corpus (with the same Faker version).

Labelling rules (what a reasonable recognizer should find, and exactly which characters):

- A label's span is the value as written, separators and country prefix included
  (`+86 138 1234 5678`, `4111-1111-1111-1111`, `DE89 3704 0044 0532 0130 00`), without the
  surrounding quotes, brackets or sentence punctuation.
- `card`: Faker's numbers (Visa 13/16/19, Mastercard, Amex, Diners, Discover, JCB 15/16) and
  UnionPay-shaped `62...` numbers of 16 and 19 digits, all Luhn-valid; unbroken or grouped
  the way each network prints (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3, ...) with one separator
  throughout: space, `-` or `.`. Maestro is left out (Faker gives 12 digits, below the 13-19
  a card recognizer looks for).
- `iban`: Faker's IBANs of 14 countries that python-stdnum accepts (layout and mod-97),
  compact or in groups of four separated by spaces.
- `cn_resident_id`: Faker zh_CN `ssn()`, 18 characters, checked here (ISO 7064 MOD 11-2 check
  character, a real birth date); the county code is not checked (a real id may carry one
  that no longer exists).
- `phone`: Chinese mobiles (`1[3-9]` and 9 digits) plain, grouped 3-4-4 by space or `-`, with
  or without `+86`; US numbers in E.164 (`+12125550173`), `(212) 555-0173`, `212-555-0173`,
  `+1 212-555-0173` and `212.555.0173`. Only numbers `phonenumbers` calls valid are planted.
  Chinese fixed lines (`010-65529988`, `(021) 5888 1234`, `+86 755 86013388`) appear in
  merchant forms. One Chinese mobile in ten and one card in twenty in a Chinese document is
  typed in full-width digits (U+FF10-FF19), and half of the Chinese documents use full-width
  colons, commas and brackets.
- `email` (one in ten with a `+tag`, a few capitalised); `ip_address` (IPv4 and IPv6).
- `person`, `address`, `passport`, `date_of_birth` and `bank_account` only right after a
  context word or key (`Name:`, `beneficiary:`, `Owner:`,
  `姓名:`, `收款人:`, `"name":`, `Passport No.:`, `护照号码:`, `Date of birth:`, `出生日期:`,
  `Account number:`, `结算账号:`, `Address:`, `地址:`, ...), since without one nobody can tell
  them apart; an address is Faker's whole address on one line. A bank account number (8-12
  digits in English documents, 12-19 in Chinese ones) never reads as a card, phone or resident
  id (`reads_as_identifier`), since it could not be told from one.
- `secret`: `sk_live_` + 24, `AKIA` + 16 and `ghp_` + 36 random characters.
- `payguard_token`: vault tokens `tok_<kind>_` + 26 base32 characters, and payguard's
  card-in-text form `[card 411111******1111 token 4111119876541112]`, labelled whole, brackets
  included (the token fails Luhn; the mask is not a card number).

Distractors (never labelled; each is regenerated until `reads_as_identifier` finds nothing in
it): order numbers (`ORD-20261204-000123`, 16-19 digit order ids failing Luhn: a Luhn-valid
16-digit number is indistinguishable from a card, so none is planted), timestamps
(`20261204153012`, epoch seconds and milliseconds, ISO 8601), tracking numbers (UPS `1Z...`,
SF Express, China Post, 12-22 digit courier numbers), UUIDs, amounts, version strings,
merchant and transaction references, Chinese unified social credit codes, 18-character ids
failing the resident-id check, IBANs with wrong check digits, and masked cards on their own
(`card 622848******1234 on file`).

Scoring (`score`): per entity, a finding matches a label when both have the same entity and
the same span (`exact`), or the same entity and overlapping spans (`overlap`: precision counts
the findings that overlap a label, recall the labels that some finding overlaps). Precision,
recall, F1 and F2 follow; `micro` sums the counts over a set of entities.
"""

from __future__ import annotations

import random
import re
import string
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from ipaddress import IPv4Address
from typing import Protocol

import phonenumbers
from faker import Faker
from stdnum import iban as stdnum_iban

from payguard.shield.interfaces import Entity

__all__ = [
    "LOCALES",
    "PLANTED",
    "SHAPES",
    "Counts",
    "Distractor",
    "Document",
    "Label",
    "Span",
    "f_beta",
    "generate",
    "headline",
    "iban_valid",
    "luhn_valid",
    "micro",
    "reads_as_identifier",
    "resident_id_valid",
    "score",
]

LOCALES = ("en_US", "zh_CN")
#: The entities the corpus plants (a partner's `custom` identifiers have no place in it).
PLANTED = frozenset(
    {
        Entity.CARD,
        Entity.IBAN,
        Entity.BANK_ACCOUNT,
        Entity.CN_RESIDENT_ID,
        Entity.PHONE,
        Entity.EMAIL,
        Entity.IP_ADDRESS,
        Entity.PASSPORT,
        Entity.PERSON,
        Entity.ADDRESS,
        Entity.DATE_OF_BIRTH,
        Entity.SECRET,
        Entity.PAYGUARD_TOKEN,
    }
)
SHAPES = ("chat", "memo", "kyc", "onboarding", "log", "json")

# -- the checks a planted value passes and a distractor fails ------------------------------


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _luhn_complete(body: str) -> str:
    """`body` and the check digit that makes it pass Luhn."""
    for check in string.digits:
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_RIC_CHECKS = "10X98765432"


def _ric_check(body: str) -> str:
    return _RIC_CHECKS[sum(int(c) * w for c, w in zip(body, _RIC_WEIGHTS, strict=True)) % 11]


def resident_id_valid(value: str) -> bool:
    """Whether `value` is an 18-character Chinese resident id: 17 digits, the ISO 7064
    MOD 11-2 check character (`X` for 10), and a real birth date in positions 7-14."""
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= 2100 and _ric_check(value[:17]) == value[17]


def iban_valid(value: str) -> bool:
    """Whether `value` (spaces allowed) has an IBAN's shape and passes ISO 7064 mod-97."""
    compact = value.replace(" ", "")
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


_DIGIT_RUN = re.compile(r"\d+")
_RIC_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_IBAN_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")


def reads_as_identifier(text: str) -> str | None:
    """The structured identifier `text` (a distractor) could honestly be read as, or None:
    an unbroken run of 13-19 digits passing Luhn (`card`), 18 characters passing the
    resident-id check, an IBAN passing mod-97, or an unbroken run of digits that is a valid
    Chinese (11 digits) or US (10 digits) phone number."""
    for run in _DIGIT_RUN.findall(text):
        if 13 <= len(run) <= 19 and luhn_valid(run):
            return "card"
        region = "CN" if len(run) == 11 else "US" if len(run) == 10 else None
        if region and phonenumbers.is_valid_number(phonenumbers.parse(run, region)):
            return "phone"
    if any(resident_id_valid(m.upper()) for m in _RIC_RUN.findall(text)):
        return "cn_resident_id"
    if any(iban_valid(m) for m in _IBAN_RUN.findall(text)):
        return "iban"
    return None


# -- documents -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Label:
    """A planted entity: `text[start:end]` is it."""

    start: int
    end: int
    entity: Entity


@dataclass(frozen=True, slots=True)
class Distractor:
    """A planted look-alike of `kind` at `text[start:end]` that must not be reported."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True, slots=True)
class Document:
    """One generated document with its labels and distractors."""

    doc_id: int
    locale: str
    shape: str
    text: str
    labels: tuple[Label, ...]
    distractors: tuple[Distractor, ...]


@dataclass
class _Builder:
    parts: list[str] = field(default_factory=list)
    at: int = 0
    labels: list[Label] = field(default_factory=list)
    distractors: list[Distractor] = field(default_factory=list)

    def text(self, value: str) -> None:
        self.parts.append(value)
        self.at += len(value)

    def entity(self, entity: Entity, value: str) -> None:
        self.labels.append(Label(self.at, self.at + len(value), entity))
        self.text(value)

    def distractor(self, kind: str, value: str) -> None:
        self.distractors.append(Distractor(self.at, self.at + len(value), kind))
        self.text(value)


# Templates: `{{slot}}` is filled by the slot of that name (an entity, a distractor or plain
# filler). Literal braces (JSON) are left alone.
_SLOT = re.compile(r"\{\{(\w+)\}\}")

_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("chat", "en_US"): (
        "[{{clock}}] Customer: Hi, I was charged twice for order {{order}}. The card was {{card}}.",
        "[{{clock}}] Customer: you can reach me on {{phone}} or {{email}}",
        "[{{clock}}] Customer: please cc my assistant <{{email}}> on case #{{case}}",
        "[{{clock}}] Agent: The refund of {{amount}} went back to {{card_token}}, "
        "tracking {{tracking}}.",
        "[{{clock}}] Customer: Name on the account: {{name}}, the account email is {{email}}.",
        "[{{clock}}] Agent: {{sentence}} I see the card {{masked}} on file.",
        "[{{clock}}] Customer: I updated the app to {{version}} and it fails since {{ts}}",
        "[{{clock}}] Customer: please use my other card {{card}} for order {{order_id}}",
        "[{{clock}}] Customer: card {{card}} exp 09/28, billing phone {{phone}}",
        "[{{clock}}] Agent: ticket {{uuid}} escalated; callback number {{phone}}",
        "[{{clock}}] Customer: my friend in Shanghai paid me from {{cn_phone}}, ref {{ref}}",
    ),
    ("chat", "zh_CN"): (
        "[{{clock}}] 用户: 你好, 订单 {{order}} 被重复扣款了, 卡号是 {{card}}。",
        "[{{clock}}] 用户: 我的手机号 {{phone}}, 邮箱 {{email}}",
        "[{{clock}}] 客服: 退款 {{amount}} 已原路退回 {{card_token}}, 运单号 {{tracking}}",
        "[{{clock}}] 用户: 实名认证姓名: {{name}}, 身份证号 {{ric}}",
        "[{{clock}}] 客服: {{sentence}} 您绑定的卡是 {{masked}}",
        "[{{clock}}] 用户: 升级到 {{version}} 之后从 {{ts}} 开始一直失败",
        "[{{clock}}] 用户: 换这张卡 {{card}} 付订单 {{order_id}} 吧",
        "[{{clock}}] 用户: 有问题打我电话{{phone}}谢谢",
        "[{{clock}}] 用户: 我的卡号{{card}}, 绑定手机{{phone}}",
        "[{{clock}}] 客服: 工单 {{uuid}} 已升级, 回拨号码 {{phone}}",
        "[{{clock}}] 用户: 之前提交的身份证号 {{bad_ric}} 写错了",
    ),
    ("memo", "en_US"): (
        "Transfer {{amount}}, beneficiary: {{name}}, IBAN {{iban}}, ref {{order_id}}",
        "Memo: invoice {{order}} paid, payer name: {{name}} ({{email}}) at {{epoch}}",
        "Beneficiary: {{name}}\nIBAN: {{iban}}\nReference: {{ref}}",
        "Returned: IBAN {{bad_iban}} rejected by the beneficiary bank (invalid check digits)",
        "Payout {{amount}} to IBAN {{iban}} on {{iso}}; batch {{uuid}}",
        "{{sentence}}",
    ),
    ("memo", "zh_CN"): (
        "转账 {{amount}}, 收款人: {{name}}, 收款账户 IBAN {{iban}}, 附言 {{order_id}}",
        "备注: 发票 {{order}} 已支付, 付款人: {{name}} ({{email}}), 时间 {{epoch}}",
        "收款人: {{name}}\n收款账号: {{account}}\n附言: {{ref}}",
        "退回: IBAN {{bad_iban}} 校验位错误",
        "{{sentence}}",
    ),
    ("kyc", "en_US"): (
        "Name: {{name}}\nDate of birth: {{dob}}\nPassport No.: {{passport}}\n"
        "Address: {{address}}\nPhone: {{phone}}\nEmail: {{email}}",
        "KYC note ({{iso}}): Name: {{name}}; ID checked against passport {{passport}}; "
        "{{sentence}}",
        "Name: {{name}}, also holds a Chinese resident ID {{ric}}; mobile {{cn_phone}}",
        "Previous submission with ID {{bad_ric}} failed the check, case {{uuid}}",
    ),
    ("kyc", "zh_CN"): (
        "姓名: {{name}}\n身份证号: {{ric}}\n出生日期: {{dob}}\n手机: {{phone}}\n"
        "地址: {{address}}\n护照号码: {{passport}}",
        "审核备注 ({{iso}}): 用户提交的身份证号 {{bad_ric}} 校验失败, 已要求重新上传",
        "姓名: {{name}}, 身份证号: {{ric}}, 联系电话: {{phone}}, 邮箱: {{email}}",
        "{{sentence}}",
    ),
    ("onboarding", "en_US"): (
        "Merchant: {{company}}\nContact name: {{name}}\nEmail: {{email}}\nPhone: {{phone}}\n"
        "Account number: {{account}}\nIBAN: {{iban}}\nMID: {{ref}}\nAddress: {{address}}",
        "Website traffic from {{ip}}; expected monthly volume {{amount}}; SDK {{version}}",
        "Owner: {{name}}, date of birth: {{dob}}, passport number: {{passport}}",
    ),
    ("onboarding", "zh_CN"): (
        "商户名称: {{company}}\n统一社会信用代码: {{uscc}}\n法人姓名: {{name}}\n"
        "联系电话: {{phone}}\n公司电话: {{landline}}\n结算账号: {{account}}\n经营地址: {{address}}",
        "对接人: {{name}}, 邮箱: {{email}}, 服务器出口 IP {{ip}}, 月交易额 {{amount}}",
        "法人身份证号: {{ric}}, 出生日期: {{dob}}",
    ),
    ("log", "en_US"): (
        "{{iso}} INFO payment.captured order_id={{order_id}} amount={{plain_amount}} "
        "card={{card}} ip={{ip}} trace={{uuid}}",
        "{{iso}} WARN auth.failed user={{email}} ip={{ipv6}} attempts=3 app={{version}}",
        "{{iso}} DEBUG outbound call key={{secret}} merchant={{ref}} took 132ms",
        "{{iso}} INFO token.issued token={{token}} msisdn={{phone}}",
        "{{iso}} INFO shipment {{tracking}} created at {{epoch}}",
    ),
    ("log", "zh_CN"): (
        "{{iso}} INFO 支付成功 订单={{order_id}} 金额={{plain_amount}} 卡号={{card}} ip={{ip}}",
        "{{iso}} WARN 登录失败 手机={{phone}} ip={{ipv6}} 版本={{version}}",
        "{{iso}} DEBUG 调用外部接口 key={{secret}} trace={{uuid}}",
        "{{iso}} INFO 令牌签发 token={{token}} 用户={{email}}",
        "{{iso}} INFO 运单 {{tracking}} 已创建 {{ts}}",
    ),
    ("json", "en_US"): (
        '{"event":"payment","order":"{{order}}","card_number":"{{card}}",'
        '"email":"{{email}}","ts":{{epoch}},"ip":"{{ip}}"}',
        '{"kyc":{"name":"{{name}}","passport":"{{passport}}","mobile":"{{phone}}"},'
        '"tracking":"{{tracking}}","request_id":"{{uuid}}"}',
        '{"payout":{"iban":"{{iban}}","amount":"{{plain_amount}}","currency":"EUR"},'
        '"api_key":"{{secret}}","card":"{{card_token}}"}',
    ),
    ("json", "zh_CN"): (
        '{"event":"payment","order":"{{order}}","card_no":"{{card}}",'
        '"mobile":"{{phone}}","ts":{{epoch}},"ip":"{{ip}}"}',
        '{"kyc":{"name":"{{name}}","id_no":"{{ric}}","address":"{{address}}"},'
        '"tracking":"{{tracking}}","credit_code":"{{uscc}}"}',
        '{"token":"{{token}}","email":"{{email}}","app_version":"{{version}}",'
        '"id_no_old":"{{bad_ric}}"}',
    ),
}

#: How many template lines a document of each shape has (low, high).
_LINES = {
    "chat": (3, 7),
    "memo": (1, 3),
    "kyc": (1, 2),
    "onboarding": (1, 2),
    "log": (2, 6),
    "json": (1, 3),
}

# (Faker card type, how it is grouped when printed with separators)
_CARD_TYPES = (
    ("visa16", (4, 4, 4, 4)),
    ("visa13", (4, 4, 5)),
    ("visa19", (4, 4, 4, 4, 3)),
    ("mastercard", (4, 4, 4, 4)),
    ("amex", (4, 6, 5)),
    ("diners", (4, 6, 4)),
    ("discover", (4, 4, 4, 4)),
    ("jcb15", (4, 4, 4, 3)),
    ("jcb16", (4, 4, 4, 4)),
)
_IBAN_LOCALES = (
    "de_DE",
    "fr_FR",
    "nl_NL",
    "es_ES",
    "it_IT",
    "pl_PL",
    "en_GB",
    "pt_PT",
    "fi_FI",
    "no_NO",
    "de_AT",
    "de_CH",
    "nl_BE",
    "en_IE",
)
#: Digits, `+` and `-` to their full-width forms (typed by Chinese input methods).
_FULL_WIDTH_DIGITS = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789+-"})
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_TOKEN_KINDS = ("pan", "phone", "account", "id_number", "email")


def _literal(text: str, full_width: bool) -> str:
    """A template's literal text, with Chinese full-width punctuation if `full_width`."""
    if not full_width:
        return text
    return (
        text.replace(": ", "\uff1a")
        .replace(", ", "\uff0c")
        .replace("(", "\uff08")
        .replace(")", "\uff09")
    )


def _grouped(value: str, sizes: Sequence[int], separator: str) -> str:
    groups, at = [], 0
    for size in sizes:
        groups.append(value[at : at + size])
        at += size
    return separator.join(groups)


class _Corpus:
    """The generator: one `random.Random` for every choice, one seeded Faker per locale."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {locale: Faker(locale) for locale in LOCALES}
        for offset, faker in enumerate(self.fakers.values()):
            faker.seed_instance(seed * 1000 + offset)
        self.iban_fakers = [Faker(locale) for locale in _IBAN_LOCALES]
        for offset, faker in enumerate(self.iban_fakers):
            faker.seed_instance(seed * 1000 + 100 + offset)
        self.locale = LOCALES[0]
        self.slots: dict[str, Callable[[_Builder], None]] = {
            "card": self.card,
            "card_token": lambda b: b.entity(Entity.PAYGUARD_TOKEN, self.card_token()),
            "masked": lambda b: b.distractor("masked_card", self.masked_card()),
            "iban": lambda b: b.entity(Entity.IBAN, self.iban()),
            "ric": lambda b: b.entity(Entity.CN_RESIDENT_ID, self.resident_id()),
            "phone": lambda b: b.entity(Entity.PHONE, self.phone(self.locale)),
            "cn_phone": lambda b: b.entity(Entity.PHONE, self.phone("zh_CN")),
            "email": lambda b: b.entity(Entity.EMAIL, self.email()),
            "landline": lambda b: b.entity(Entity.PHONE, self.landline()),
            "case": lambda b: b.distractor("reference", self.clean(lambda: self.digits(10))),
            "ip": lambda b: b.entity(Entity.IP_ADDRESS, self.faker.ipv4_public()),
            "ipv6": lambda b: b.entity(Entity.IP_ADDRESS, self.faker.ipv6()),
            "name": lambda b: b.entity(Entity.PERSON, self.faker.name()),
            "address": lambda b: b.entity(Entity.ADDRESS, self.address()),
            "passport": lambda b: b.entity(Entity.PASSPORT, self.passport()),
            "dob": lambda b: b.entity(Entity.DATE_OF_BIRTH, self.birth_date()),
            "account": lambda b: b.entity(Entity.BANK_ACCOUNT, self.bank_account()),
            "secret": lambda b: b.entity(Entity.SECRET, self.secret()),
            "token": lambda b: b.entity(Entity.PAYGUARD_TOKEN, self.vault_token()),
            "order": lambda b: b.distractor("order_number", self.clean(self.order)),
            "order_id": lambda b: b.distractor("order_number", self.clean(self.order_id)),
            "ref": lambda b: b.distractor("reference", self.clean(self.reference)),
            "ts": lambda b: b.distractor("timestamp", self.clean(self.compact_time)),
            "epoch": lambda b: b.distractor("timestamp", self.clean(self.epoch)),
            "iso": lambda b: b.distractor("timestamp", self.iso_time()),
            "tracking": lambda b: b.distractor("tracking_number", self.clean(self.tracking)),
            "uuid": lambda b: b.distractor("uuid", self.clean(self.uuid)),
            "amount": lambda b: b.distractor("amount", self.amount()),
            "plain_amount": lambda b: b.distractor("amount", f"{self.money():.2f}"),
            "version": lambda b: b.distractor("version", self.clean(self.version)),
            "uscc": lambda b: b.distractor("credit_code", self.clean(self.credit_code)),
            "bad_ric": lambda b: b.distractor("bad_resident_id", self.clean(self.bad_ric)),
            "bad_iban": lambda b: b.distractor("bad_iban", self.clean(self.bad_iban)),
            "clock": lambda b: b.text(
                f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}"
            ),
            "sentence": lambda b: b.text(self.faker.sentence()),
            "company": lambda b: b.text(self.faker.company()),
        }

    @property
    def faker(self) -> Faker:
        return self.fakers[self.locale]

    def digits(self, count: int) -> str:
        return "".join(self.rng.choices(string.digits, k=count))

    def clean(self, make: Callable[[], str]) -> str:
        """A distractor from `make` that reads as no structured identifier."""
        while True:
            value = make()
            if reads_as_identifier(value) is None:
                return value

    # entities

    def card_number(self) -> tuple[str, Sequence[int]]:
        if self.locale == "zh_CN" and self.rng.random() < 0.5:
            length = self.rng.choice((16, 19))
            number = _luhn_complete("62" + self.digits(length - 3))
            return number, (4, 4, 4, 4) if length == 16 else (4, 4, 4, 4, 3)
        card_type, sizes = self.rng.choice(_CARD_TYPES)
        return self.fakers["en_US"].credit_card_number(card_type=card_type), sizes

    def card(self, builder: _Builder) -> None:
        number, sizes = self.card_number()
        separator = self.rng.choices(("", " ", "-", "."), weights=(4, 3, 2, 1))[0]
        written = _grouped(number, sizes, separator) if separator else number
        if self.locale == "zh_CN" and self.rng.random() < 0.05:
            written = written.translate(_FULL_WIDTH_DIGITS)
        builder.entity(Entity.CARD, written)

    def email(self) -> str:
        address = str(self.faker.email())
        if self.rng.random() < 0.1:
            user, _, domain = address.partition("@")
            return f"{user}+{self.rng.choice(('pay', 'kyc', 'shop'))}@{domain}"
        if self.rng.random() < 0.05:
            return address.capitalize()
        return address

    def landline(self) -> str:
        """A Chinese fixed line: area code and 8 digits, as companies print it."""
        while True:
            area = self.rng.choice(("10", "21", "20", "755", "571", "28"))
            local = str(self.rng.randint(2, 8)) + self.digits(7)
            if phonenumbers.is_valid_number(phonenumbers.parse(f"0{area}{local}", "CN")):
                break
        return self.rng.choice(
            (f"0{area}-{local}", f"(0{area}) {local[:4]} {local[4:]}", f"+86 {area} {local}")
        )

    def masked_card(self) -> str:
        number, _ = self.card_number()
        return number[:6] + "*" * (len(number) - 10) + number[-4:]

    def card_token(self) -> str:
        """payguard's card-in-text form: the mask and a format-preserving token failing Luhn."""
        number, _ = self.card_number()
        token = number[:6] + self.digits(len(number) - 10) + number[-4:]
        if luhn_valid(token):
            bumped = (int(token[6]) + 1) % 10
            token = token[:6] + str(bumped) + token[7:]
        return f"[card {number[:6]}{'*' * (len(number) - 10)}{number[-4:]} token {token}]"

    def iban(self) -> str:
        while True:
            value = self.rng.choice(self.iban_fakers).iban()
            if stdnum_iban.is_valid(value):
                break
        if self.rng.random() < 0.4:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def resident_id(self) -> str:
        while True:
            value = self.fakers["zh_CN"].ssn()
            if resident_id_valid(value):
                return value

    def phone(self, locale: str) -> str:
        if locale == "zh_CN":
            while True:
                number = self.fakers["zh_CN"].phone_number()
                if phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
                    break
            a, b, c = number[:3], number[3:7], number[7:]
            written = self.rng.choice(
                (
                    number,
                    number,
                    f"+86 {number}",
                    f"+86-{number}",
                    f"+86{number}",
                    f"{a} {b} {c}",
                    f"{a}-{b}-{c}",
                    f"+86 {a} {b} {c}",
                )
            )
            if self.locale == "zh_CN" and self.rng.random() < 0.1:
                return written.translate(_FULL_WIDTH_DIGITS)
            return written
        while True:
            number = re.sub(r"\D", "", self.fakers["en_US"].basic_phone_number())[-10:]
            if len(number) == 10 and phonenumbers.is_valid_number(phonenumbers.parse(number, "US")):
                break
        a, b, c = number[:3], number[3:6], number[6:]
        return self.rng.choice(
            (f"+1{number}", f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a}-{b}-{c}", f"{a}.{b}.{c}")
        )

    def address(self) -> str:
        return str(self.faker.address()).replace("\n", ", ")

    def passport(self) -> str:
        if self.locale == "zh_CN":
            return self.rng.choice("EG") + self.digits(8)
        return str(self.faker.passport_number())

    def birth_date(self) -> str:
        born = self.faker.date_of_birth(minimum_age=18, maximum_age=85)
        if self.locale == "zh_CN":
            return self.rng.choice((born.isoformat(), f"{born.year}年{born.month}月{born.day}日"))
        return self.rng.choice((born.isoformat(), f"{born.month:02d}/{born.day:02d}/{born.year}"))

    def bank_account(self) -> str:
        low, high = (8, 12) if self.locale == "en_US" else (12, 19)
        return self.clean(
            lambda: str(self.rng.randint(1, 9)) + self.digits(self.rng.randint(low, high) - 1)
        )

    def secret(self) -> str:
        kind = self.rng.randrange(3)
        if kind == 0:
            return "sk_live_" + "".join(self.rng.choices(_ALNUM, k=24))
        if kind == 1:
            return "AKIA" + "".join(self.rng.choices(_UPPER_ALNUM, k=16))
        return "ghp_" + "".join(self.rng.choices(_ALNUM, k=36))

    def vault_token(self) -> str:
        kind = self.rng.choice(_TOKEN_KINDS)
        return f"tok_{kind}_" + "".join(self.rng.choices(_BASE32, k=26))

    # distractors

    def day(self) -> date:
        return date.fromordinal(date(2024, 1, 1).toordinal() + self.rng.randrange(1100))

    def order(self) -> str:
        day = self.day()
        kind = self.rng.randrange(3)
        if kind == 0:
            return f"ORD-{day:%Y%m%d}-{self.rng.randrange(10**6):06d}"
        if kind == 1:
            return f"PO#{self.rng.randrange(10**5, 10**7)}"
        return f"SO{day:%y%m%d}{self.digits(6)}"

    def order_id(self) -> str:
        length = self.rng.randint(16, 19)
        return f"{self.day():%Y%m%d}" + self.digits(length - 8)

    def reference(self) -> str:
        kind = self.rng.randrange(3)
        if kind == 0:
            return str(self.rng.randint(1, 9)) + self.digits(14)  # 15-digit merchant id
        if kind == 1:
            return "TXN" + self.digits(self.rng.randint(12, 20))
        return "M" + self.digits(9)

    def compact_time(self) -> str:
        return f"{self.day():%Y%m%d}{self.rng.randrange(24):02d}{self.digits(4)}"

    def epoch(self) -> str:
        seconds = 1_700_000_000 + self.rng.randrange(100_000_000)
        return (
            str(seconds * 1000 + self.rng.randrange(1000))
            if self.rng.random() < 0.6
            else str(seconds)
        )

    def iso_time(self) -> str:
        return (
            f"{self.day():%Y-%m-%d}T{self.rng.randrange(24):02d}:{self.rng.randrange(60):02d}:"
            f"{self.rng.randrange(60):02d}.{self.rng.randrange(1000):03d}Z"
        )

    def tracking(self) -> str:
        kind = self.rng.randrange(5)
        if kind == 0:
            return "1Z" + "".join(self.rng.choices(_UPPER_ALNUM, k=6)) + self.digits(10)
        if kind == 1:
            return "SF" + self.digits(13)
        if kind == 2:
            return "E" + self.rng.choice("ACEM") + self.digits(9) + "CN"
        if kind == 3:
            return "9400" + self.digits(18)
        return self.digits(self.rng.choice((12, 13, 14, 15, 20, 22)))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def money(self) -> float:
        return self.rng.choice((1, 10, 100, 1000)) * self.rng.randint(1, 9999) / 100

    def amount(self) -> str:
        value = self.money()
        return (
            self.rng.choice(
                (f"${value:,.2f}", f"¥{value:,.2f}", f"CNY {value:.2f}", f"EUR {value:,.2f}")
            )
            if self.locale == "en_US"
            else self.rng.choice((f"¥{value:,.2f}", f"{value:,.2f}元"))
        )

    def version(self) -> str:
        while True:
            kind = self.rng.randrange(3)
            if kind == 0:
                value = (
                    f"v{self.rng.randint(1, 9)}.{self.rng.randint(0, 30)}.{self.rng.randint(0, 20)}"
                )
            elif kind == 1:
                major, build = self.rng.randint(1, 20), self.rng.randint(10000, 30000)
                value = f"{major}.0.{build}.{self.rng.randint(100, 9999)}"
            else:
                value = f"build {self.day():%Y%m%d}.{self.rng.randint(1, 9)}"
            try:
                IPv4Address(value)
            except ValueError:
                return value

    def credit_code(self) -> str:
        body = "".join(self.rng.choices(_UPPER_ALNUM, k=8)) + self.rng.choice(
            string.ascii_uppercase
        )
        return "91" + self.digits(6) + body + self.rng.choice(_UPPER_ALNUM)

    def bad_ric(self) -> str:
        value = self.resident_id()
        wrong = [c for c in _RIC_CHECKS if c != value[17]]
        return value[:17] + self.rng.choice(wrong)

    def bad_iban(self) -> str:
        value = self.rng.choice(self.iban_fakers).iban()
        check = (int(value[2:4]) + self.rng.randint(1, 96) - 2) % 97 + 2
        return value[:2] + f"{check:02d}" + value[4:]

    # documents

    def document(self, doc_id: int) -> Document:
        self.locale = LOCALES[doc_id % 2]
        full_width = self.locale == "zh_CN" and self.rng.random() < 0.5
        shape = self.rng.choice(SHAPES)
        templates = _TEMPLATES[shape, self.locale]
        builder = _Builder()
        low, high = _LINES[shape]
        for line in range(self.rng.randint(low, high)):
            if line:
                builder.text("\n")
            template = self.rng.choice(templates)
            at = 0
            for slot in _SLOT.finditer(template):
                builder.text(_literal(template[at : slot.start()], full_width))
                self.slots[slot.group(1)](builder)
                at = slot.end()
            builder.text(_literal(template[at:], full_width))
        return Document(
            doc_id=doc_id,
            locale=self.locale,
            shape=shape,
            text="".join(builder.parts),
            labels=tuple(builder.labels),
            distractors=tuple(builder.distractors),
        )


def generate(*, seed: int, docs: int) -> Iterator[Document]:
    """`docs` documents of the corpus of `seed`, one at a time (nothing is kept)."""
    corpus = _Corpus(seed)
    for doc_id in range(docs):
        yield corpus.document(doc_id)


# -- scoring -------------------------------------------------------------------------------


class Span(Protocol):
    """What scoring needs of a label or a finding."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def entity(self) -> Entity: ...


def f_beta(precision: float, recall: float, beta: float) -> float:
    """The weighted harmonic mean of precision and recall (recall `beta` times as important);
    0 when both are 0."""
    weight = beta * beta
    denominator = weight * precision + recall
    return (1 + weight) * precision * recall / denominator if denominator else 0.0


@dataclass
class Counts:
    """One entity's tallies: findings, labels, findings that match a label, labels that some
    finding matches (the two matched counts differ only under overlap matching)."""

    found: int = 0
    labelled: int = 0
    found_matched: int = 0
    labels_matched: int = 0

    def add(self, other: Counts) -> None:
        self.found += other.found
        self.labelled += other.labelled
        self.found_matched += other.found_matched
        self.labels_matched += other.labels_matched

    @property
    def precision(self) -> float:
        """Matched findings over findings (0 without findings)."""
        return self.found_matched / self.found if self.found else 0.0

    @property
    def recall(self) -> float:
        """Matched labels over labels (0 without labels)."""
        return self.labels_matched / self.labelled if self.labelled else 0.0

    @property
    def f1(self) -> float:
        return f_beta(self.precision, self.recall, 1.0)

    @property
    def f2(self) -> float:
        return f_beta(self.precision, self.recall, 2.0)


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def score(
    labels: Sequence[Span], findings: Sequence[Span]
) -> tuple[dict[Entity, Counts], dict[Entity, Counts]]:
    """The per-entity counts of one document under exact and under overlap matching. Every
    entity is present (with zeros when neither side has it)."""
    exact = {entity: Counts() for entity in Entity}
    overlap = {entity: Counts() for entity in Entity}
    for label in labels:
        exact[label.entity].labelled += 1
        overlap[label.entity].labelled += 1
    for finding in findings:
        exact[finding.entity].found += 1
        overlap[finding.entity].found += 1
    wanted = Counter((label.start, label.end, label.entity) for label in labels)
    got = Counter((finding.start, finding.end, finding.entity) for finding in findings)
    for key, count in (wanted & got).items():
        exact[key[2]].found_matched += count
        exact[key[2]].labels_matched += count
    for finding in findings:
        if any(lab.entity == finding.entity and _overlaps(lab, finding) for lab in labels):
            overlap[finding.entity].found_matched += 1
    for label in labels:
        if any(f.entity == label.entity and _overlaps(label, f) for f in findings):
            overlap[label.entity].labels_matched += 1
    return exact, overlap


def micro(counts: dict[Entity, Counts], entities: Iterable[Entity]) -> Counts:
    """The counts of `entities` summed (micro-averaging)."""
    total = Counts()
    for entity in entities:
        total.add(counts[entity])
    return total


def ratio(value: float, defined: bool) -> str:
    """A precision, recall or F figure for a table: three decimals, or `-` when undefined."""
    return f"{value:6.3f}" if defined else "     -"


def headline(counts: Counts) -> str:
    """The benchmark's last line, for the structured identifiers' micro-averaged counts."""
    return (
        f"structured identifiers: precision {counts.precision:.3f} "
        f"recall {counts.recall:.3f} F1 {counts.f1:.3f}"
    )
