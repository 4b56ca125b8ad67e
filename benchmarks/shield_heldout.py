"""A held-out PII corpus for the Data Shield: the scanner on text written unlike its own corpus.

`benchmarks/shield.py` scores the scanner on `shield_corpus.py`, whose templates the
recognizers were tuned on. This corpus is written independently of those templates, so its
figures say how the recognizers generalise: free prose ("you can reach me at ...", "转账到
..."), e-mails with signatures, chat transcripts with timestamps, CSV rows, key=value logs,
JSON with unusual key names, markdown tables, filled-in forms with labels in any case, and
bare fragments with a value at the very start or end. Values stand before `.`, `)`, `,`,
`\u3002`, `\uff1b`, inside brackets and quotes, next to Chinese text. Locales: Faker en_US, en_GB,
de_DE, fr_FR and zh_CN; phones of the US, UK, Germany, France and China in several layouts;
cards of nine schemes in 4-4-4-4 / 4-6-5 / 4-6-4 / 4-4-4-4-3 with spaces, dashes or none;
IBANs of twelve countries compact and grouped; resident ids with `X`, grouped, lower-case;
e-mails with plus tags, subdomains and capitals; IPv4 and IPv6 (compressed, with ports,
IPv4-mapped). Seeded: the same `--seed` gives the same corpus (with the same Faker version).

Labelling follows `shield_corpus.py`'s rules exactly: a label's span is the value as
written, separators and country prefix included (`+44 (0)20 7946 0958`, `(212) 555-0173`),
without surrounding quotes, brackets or sentence punctuation; a phone's extension
(`x123`) is part of it, a port (`:443`) or the brackets of `[2001:db8::1]:443` are not; an
address is the Faker address on one line. Every label also has a `variant` (its layout and
the label or key before it, e.g. `phone` `GB/intl_trunk0`, `person` `accented@customerName`),
so misses can be grouped, and a `limit` when the value is one that docs/shield.md "Limits"
says is not found (national phone numbers of other countries, lower-case IBANs, 15-digit
resident ids, names and non-US/CN addresses in free prose or table cells) or whose shape
the recognizer table does not cover (German and French passports): those are planted, counted
in the "all labels" figures, and reported apart as documented limits.

Distractors: order and invoice numbers, UUIDs, git SHAs, timestamps, version strings,
amounts with thousands separators, tracking numbers, ISBNs, EANs, IMEIs, part numbers,
references, masked cards, MAC addresses, BICs, postcodes, IBANs with wrong check digits and
ids failing their check. They are regenerated until `shield_corpus.reads_as_identifier`
finds nothing in them, except the kinds that are Luhn-valid on purpose (`imei`,
`luhn_reference`, and an `ean13` that happens to pass Luhn is kept as `ean13_luhn`): the
scanner reports a Luhn-valid number without a card scheme's prefix only near card
context, and these stand near none. `version_dotted_quad` (`1.4.2.0`) is a documented limit.

Usage: python benchmarks/shield_heldout.py [--seed 7] [--docs 3000] [--errors N]
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import os
import random
import re
import string
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import phonenumbers
from faker import Faker
from shield_corpus import (
    Counts,
    headline,
    luhn_valid,
    micro,
    ratio,
    reads_as_identifier,
    score,
)
from stdnum import iban as stdnum_iban

from payguard.shield.interfaces import STRUCTURED, Entity, Finding
from payguard.shield.scanner import Scanner

__all__ = ["LOCALES", "SHAPES", "Distractor", "Document", "Label", "generate"]

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "zh_CN")
SHAPES = ("prose", "email", "chat", "csv", "kv_log", "json", "markdown", "form", "fragment")
MB = 1_000_000

# Documented limits (docs/shield.md "Limits", and the recognizer table's shapes).
LIMIT_NATIONAL = "phone without country code (not CN/US)"
LIMIT_IBAN_LOWER = "IBAN in lower case"
LIMIT_RIC15 = "15-digit resident id"
LIMIT_NAME_FREE = "name without label or title"
LIMIT_ADDRESS_FREE = "address without label (not US street / CN form)"
LIMIT_PASSPORT_SHAPE = "passport shape outside the documented ones (DE, FR)"
LIMIT_DOTTED_QUAD = "dotted-quad version read as IPv4"


@dataclass(frozen=True, slots=True)
class Label:
    """A planted entity at `text[start:end]`: its layout (`variant`) and, when
    docs/shield.md says such a value is not found, which documented `limit` it falls under."""

    start: int
    end: int
    entity: Entity
    variant: str
    limit: str | None = None


@dataclass(frozen=True, slots=True)
class Distractor:
    """A look-alike of `kind` at `text[start:end]` that must not be reported."""

    start: int
    end: int
    kind: str
    limit: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """One held-out document with its labels and distractors."""

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
    form: str = ""
    labels: list[Label] = field(default_factory=list)
    distractors: list[Distractor] = field(default_factory=list)

    def t(self, value: str) -> None:
        self.parts.append(value)
        self.at += len(value)

    def e(self, entity: Entity, value: str, variant: str, limit: str | None = None) -> None:
        if self.form:
            variant = f"{variant}@{self.form}"
        self.labels.append(Label(self.at, self.at + len(value), entity, variant, limit))
        self.t(value)

    def d(self, kind: str, value: str, limit: str | None = None) -> None:
        self.distractors.append(Distractor(self.at, self.at + len(value), kind, limit))
        self.t(value)


# `{{slot}}` or `{{slot@form}}`: the form (the label or key before the value) is added to the
# variant of the labels the slot plants.
_SLOT = re.compile(r"\{\{(\w+)(?:@([\w\-/.]+))?\}\}")

_CARD_KINDS = (
    ("visa16", (4, 4, 4, 4)),
    ("mastercard", (4, 4, 4, 4)),
    ("amex", (4, 6, 5)),
    ("discover", (4, 4, 4, 4)),
    ("jcb16", (4, 4, 4, 4)),
    ("diners", (4, 6, 4)),
    ("visa19", (4, 4, 4, 4, 3)),
    ("unionpay16", (4, 4, 4, 4)),
    ("unionpay19", (4, 4, 4, 4, 3)),
)
_IBAN_LOCALES = (
    "de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL",
    "de_CH", "pl_PL", "pt_PT", "nl_BE", "de_AT", "en_IE",
)  # fmt: skip
_EU_REGION = {"en_GB": "GB", "de_DE": "DE", "fr_FR": "FR"}
_FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789+-"})
_FULL_WIDTH_PUNCT = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in ":;()"})
_CJK = re.compile("[\u4e00-\u9fff]")
_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_HEX = "0123456789abcdef"
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_PUNCT = (".", ",", ")", ";", "!", "?", ":", "")
_CN_PUNCT = (
    "\u3002",
    "\uff1b",
    "\uff0c",
    "\uff09",
    "",
    "!",
)  # ideographic full stop, semicolon, comma, bracket

# -- templates ------------------------------------------------------------------------------
# Written for this corpus, deliberately unlike shield_corpus.py's: free sentences, values at
# the edges, unusual keys and labels.

_PROSE = {
    "en": (
        "You can reach me at {{phone}} after 6pm{{p}}",
        "Honestly my card ending {{last4}} is actually {{card}}{{p}} please refund it there",
        "his number is {{phone_eu}}, or try the office on {{phone_national}}.",
        "I paid with {{card}} and got charged {{amount}} twice{{p}}",
        "Send the receipt to {{email}}{{p}}",
        "Please wire it to {{iban}} ({{bic}}) by Friday.",
        "{{name_free}} said the package {{tracking}} never arrived.",
        "Our server at {{ipv4}} kept timing out, then {{ipv6}} did too.",
        "My friend {{name_free}} lives at {{address_free}} now.",
        "The old email was {{email}} (don't use it anymore).",
        "{{sentence}} Ping me on {{phone}}{{p}}",
        "I was born on {{dob}}, so the form is wrong{{p}}",
        "My passport number is {{passport}}{{p}}",
        "Refund order {{order}} to card {{card}} please.",
        "Reference {{luhn_ref}} for invoice {{invoice}}{{p}}",
        "The device IMEI {{imei}} was replaced on {{date}}.",
        "We shipped {{isbn}} (EAN {{ean}}) and part {{product}}, tracking {{tracking}}.",
        "Replacement part {{product_nanp}} is on backorder until {{date}}.",
        "Is '{{email}}' the right address?",
        "Dr. {{name_title}} signed off on release {{version}}{{p}}",
        "Mr {{name_title}} called from {{phone_us}}{{p}}",
        "Wire {{amount}} to account {{account}}{{p}}",
        'The client IP "{{ipv4_port}}" appears in commit {{sha}}.',
        "Card on file {{masked}}, amount {{amount}}, order {{order}}.",
        "I'm at {{address_us}} if you need to send anything.",
    ),
    "de": (
        "Bitte überweisen Sie den Betrag auf IBAN {{iban}}{{p}}",
        "Sie erreichen mich unter {{phone_eu}} oder per Mail an {{email}}.",
        "Meine Kreditkarte {{card}} wurde doppelt belastet ({{amount}}).",
        "Rückruf bitte an {{phone_national}}, danke!",
        "Die Bestellung {{order}} ging an {{name_free}}.",
        "Geburtsdatum: {{dob_de}}; Reisepass {{passport}}",
        "Artikelnummer {{product}}, Rechnung {{invoice}}, Sendung {{tracking}}.",
        "Zugriff von {{ipv6}} um {{clock}} Uhr.",
        "{{sentence}} Kontakt: {{email}}",
        "Kontonummer {{account}} bei der Sparkasse{{p}}",
        "IBAN: {{iban}} BIC {{bic}}, Verwendungszweck {{invoice}}",
    ),
    "fr": (
        "Mon numéro est le {{phone_eu}}, merci de me rappeler{{p}}",
        "Vous pouvez aussi m'écrire à {{email}}.",
        "Virement de {{amount}} vers l'IBAN {{iban}} effectué le {{date}}.",
        "J'ai payé avec la carte {{card}} (commande {{order}}).",
        "Appelez le {{phone_national}} en cas de problème.",
        "Né le {{dob_fr}} à Lyon, passeport {{passport}}.",
        "{{name_free}} habite au {{address_free}}.",
        "{{sentence}} Adresse IP : {{ipv4}}",
        "Facture {{invoice}}, colis {{tracking}}, référence {{luhn_ref}}.",
    ),
    "zh": (
        "转账到{{card}}{{cp}}备注{{order}}",
        "请把钱转到账号{{account}}{{cp}}谢谢",
        "我的手机是{{phone_cn}}{{cp}}有事打我",
        "身份证{{ric}}{{cp}}姓名{{name}}",
        "邮箱{{email}}收不到验证码{{cp}}",
        "他的电话是 {{phone_eu}}{{cp}}在德国",
        "卡号({{card}})已经挂失{{cp}}",
        "出生于{{dob_zh}}{{cp}}护照号{{passport_cn}}",
        "快递单号{{tracking}}{{cp}}金额{{amount}}",
        "我住在{{address_cn}}{{cp}}",
        "登录 IP 是 {{ipv4}}{{cp}}设备 IMEI {{imei}}",
        "统一社会信用代码{{credit_code}}{{cp}}订单号{{order}}",
        "之前填的身份证 {{bad_ric}} 不对{{cp}}正确的是 {{ric}}{{cp}}",
        "旧身份证号{{ric15}}{{cp}}",
        "{{sentence}}联系人:{{name}}{{cp}}电话{{phone_cn}}",
        "收款IBAN:{{iban}}{{cp}}",
    ),
}

_EMAIL_BODY = {
    "en": (
        "Hi team,\n\n{{prose}}\n{{prose}}\n\nThanks,\n{{name_free}}\n{{title}}, {{company}}\n"
        "M: {{phone}} | T: {{phone_any}}\n{{email}}\n",
        "Hello,\n\nplease update my details. New phone: {{phone}}. New card: {{card}}.\n"
        "{{prose}}\n\nBest regards\n\n--\n{{name_free}}\n{{address_sig}}\nTel. {{phone}}\n"
        "{{email}}",
        "Dear Mr. {{name_title}},\n\n{{prose}}\n\nKind regards,\n{{name_free}}\n"
        "Sent from my iPhone",
        "From: {{email}}\nTo: {{email}}\nSubject: Re: ticket {{uuid}}\n\n"
        "{{prose}}\n\n> On {{date}}, {{email}} wrote:\n> {{prose}}",
    ),
    "de": (
        "Sehr geehrte Damen und Herren,\n\n{{prose}}\n\nMit freundlichen Grüßen\n"
        "{{name_free}}\nTel.: {{phone}}\nE-Mail: {{email}}",
    ),
    "fr": (
        "Bonjour,\n\n{{prose}}\n{{prose}}\n\nCordialement,\n{{name_free}}\nTél : {{phone}}\n"
        "{{email}}",
    ),
    "zh": ("您好:\n\n{{prose}}\n{{prose}}\n\n此致\n{{name_free}}\n手机:{{phone}}\n邮箱:{{email}}",),
}

_CHAT_LINE = (
    "[{{stamp}}] {{user}}: {{prose}}",
    "{{clock}} <{{user}}> {{prose}}",
    "{{user}} ({{stamp}}): {{prose}}",
    "[{{stamp}}] {{user}}: ok",
    "{{clock}} <{{user}}> {{email}}",
    "{{clock}} <{{user}}> {{phone}}",
)

_KV_LOG = (
    "{{iso}} level=info event=payment.authorised pan={{card}} amount={{plain_amount}} "
    "order_ref={{order}} build={{version}}",
    '{{iso}} level=warn msg="login failed" user_email={{email}} remote_addr={{ipv4}} '
    "request_id={{uuid}}",
    "ts={{epoch}} lvl=DEBUG client={{ipv6}} ua_version={{version}} latency_ms=132",
    "{{iso}} ERROR sms delivery failed msisdn={{phone_e164}} attempt=2 job={{uuid}}",
    'time="{{iso}}" level=info msg=payout iban={{iban}} beneficiary_bic={{bic}}',
    "{{iso}} INFO commit={{sha}} deployed version={{version_quad}} host={{ipv4}}",
    "{{iso}} level=debug AWS_ACCESS_KEY_ID={{secret}} region=eu-west-1",
    "{{iso}} level=info token={{token}} subject={{email}}",
    "{{iso}} level=info imei={{imei}} device_model={{product}} fw={{version}}",
    "{{iso}} level=error peer=[{{ipv6_bare}}]:8443 reset by peer",
    "{{iso}} level=info card_last4={{last4}} masked={{masked}} txn={{order}}",
    "{{iso}} level=info settlement batch={{luhn_ref}} rows=42 took=1.2s",
)

_JSON = (
    '{"payerMail": "{{email}}", "contactMsisdn": "{{phone_e164}}", "createdAt": "{{iso}}"}',
    '{"customerName": "{{name@customerName}}", "pmtInstrument": {"pan": "{{card}}", '
    '"exp": "09/29"}, "orderRef": "{{order}}"}',
    '{"acctIdentifier": "{{iban}}", "holder": "{{name@holder}}", "amountMinor": {{minor}}}',
    '{"remote_addr": "{{ipv4}}", "x_forwarded_for": "{{ipv6}}", "traceparent": "{{trace}}"}',
    '{"user": {"full_name": "{{name@full_name}}", "dob": "{{dob_iso}}", "telephone": "{{phone}}"}}',
    '{"kyc": {"idNumber": "{{ric}}", "passportNo": "{{passport@passportNo}}"}, "imei": "{{imei}}"}',
    '{"webhook_secret": "{{secret}}", "sdkVersion": "{{version}}", "sha": "{{sha}}"}',
    '{"recipient": {"e_mail": "{{email}}", "mobileNumber": "{{phone_cn}}"}, "isbn": "{{isbn}}"}',
    '{"shipping": {"addressLine": "{{address@addressLine}}"}, "tracking_no": "{{tracking}}"}',
    '{"contact_email":"{{email}}","contact_phone":"{{phone}}","amount":"{{amount}}"}',
)

_FORM = (
    "FULL NAME: {{name@FULL_NAME}}\nE-MAIL: {{email}}\nMOBILE: {{phone}}\nDOB: {{dob}}",
    "name = {{name@name=}}\nemail = {{email}}\niban = {{iban}}\nref = {{order}}",
    "Cardholder: {{name@Cardholder}}\nCard number: {{card}}\nExpiry: 09/29\nCVV: ***",
    "Passport#: {{passport@Passport#}}\nNationality: {{country}}\nD.O.B.: {{dob}}",
    "Billing address: {{address@Billing_address}}\nPhone (mobile): {{phone}}\n"
    "Account no.: {{account}}",
    "Beneficiary: {{name@Beneficiary}}, IBAN: {{iban}}, BIC: {{bic}}, amount {{amount}}",
    "Name - {{name@Name-}}\nTel - {{phone}}\nInvoice - {{invoice}}",
    "姓名:{{name}}\n身份证号码:{{ric}}\n手机号码:{{phone_cn}}\n地址:{{address_cn}}",
    "收款人:{{name}};收款账号:{{account}};开户行:招商银行;金额:{{amount}}",
    "Recipient: {{name@Recipient}} ({{email}}), ship to: {{address@ship_to}}",
)

_MARKDOWN_HEAD = "| Name | Phone | Email | Card | Joined |\n|---|---|---|---|---|\n"
_MARKDOWN_ROW = "| {{name_cell}} | {{phone}} | {{email}} | {{card}} | {{date}} |"

_CSV_HEAD = "id,name,email,phone,iban,ip,created\n"
_CSV_ROW = (
    "{{n}},{{name_cell}},{{email}},{{phone}},{{iban}},{{ipv4}},{{iso}}",
    '{{n}},"{{name_cell}}","{{email}}","{{phone}}","{{iban}}","{{ipv6}}",{{epoch}}',
    "{{n}};{{name_cell}};{{email}};{{phone}};{{iban}};{{ipv4}};{{date}}",
)

_FRAGMENT = (
    "{{card}}",
    "{{email}} wrote:",
    "{{phone}} (mobile)",
    "call me: {{phone}}",
    "{{iban}} is the new account",
    "ip {{ipv6}}",
    "{{ric}}",
    "sent to {{email}}",
    '<a href="mailto:{{email}}">write to us</a>',
    '<a href="tel:{{phone_e164}}">{{phone_any}}</a>',
    "{{ipv4}}",
    "{{order}}",
    "{{sha}}",
    "{{phone_eu}}",
    "{{luhn_ref}}",
    "({{card}})",
    '"{{email}}"',
)


class _Heldout:
    """The generator: one `random.Random` for every choice, one seeded Faker per locale."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {locale: Faker(locale) for locale in LOCALES}
        for offset, faker in enumerate(self.fakers.values()):
            faker.seed_instance(seed * 7919 + offset)
        self.iban_fakers = {locale: Faker(locale) for locale in _IBAN_LOCALES}
        for offset, faker in enumerate(self.iban_fakers.values()):
            faker.seed_instance(seed * 7919 + 50 + offset)
        self.locale = LOCALES[0]
        self.full_width = False
        self.slots: dict[str, Callable[[_Builder], None]] = {
            # entities
            "card": self.card,
            "iban": self.iban,
            "ric": self.ric,
            "ric15": self.ric15,
            "phone": self.phone,
            "phone_any": lambda b: self.phone(b, self.rng.choice(LOCALES)),
            "phone_cn": lambda b: self.phone(b, "zh_CN"),
            "phone_us": lambda b: self.phone(b, "en_US"),
            "phone_eu": lambda b: self.phone_eu(b, national=False),
            "phone_national": lambda b: self.phone_eu(b, national=True),
            "phone_e164": self.phone_e164,
            "email": self.email,
            "ipv4": lambda b: b.e(Entity.IP_ADDRESS, self.faker("en_US").ipv4_public(), "ipv4"),
            "ipv4_port": self.ipv4_port,
            "ipv6": self.ipv6,
            "ipv6_bare": lambda b: b.e(Entity.IP_ADDRESS, self.ipv6_compressed(), "ipv6/bracketed"),
            "name": self.name,
            "name_title": lambda b: self.name(b, form="title"),
            "name_free": self.name_free,
            "name_cell": self.name_cell,
            "address": self.address,
            "address_us": lambda b: b.e(Entity.ADDRESS, self.address_text("en_US"), "us_street"),
            "address_cn": lambda b: b.e(Entity.ADDRESS, self.address_text("zh_CN"), "cn"),
            "address_free": self.address_free,
            "address_sig": self.address_free,
            "dob": self.dob,
            "dob_iso": lambda b: self.dob(b, style="iso"),
            "dob_de": lambda b: self.dob(b, style="de"),
            "dob_fr": lambda b: self.dob(b, style="fr"),
            "dob_zh": lambda b: self.dob(b, style="zh"),
            "passport": self.passport,
            "passport_cn": lambda b: self.passport(b, locale="zh_CN"),
            "account": self.account,
            "secret": self.secret,
            "token": self.token,
            # distractors
            "order": lambda b: b.d("order_number", self.clean(self.order)),
            "invoice": lambda b: b.d("invoice_id", self.clean(self.invoice)),
            "uuid": lambda b: b.d("uuid", self.clean(self.uuid)),
            "trace": lambda b: b.d("trace_id", self.clean(self.trace)),
            "sha": lambda b: b.d("git_sha", self.clean(self.sha)),
            "iso": lambda b: b.d("timestamp", self.iso()),
            "epoch": lambda b: b.d("timestamp", self.clean(self.epoch)),
            "stamp": lambda b: b.d("timestamp", self.stamp()),
            "date": lambda b: b.d("date", self.day().isoformat()),
            "version": lambda b: b.d("version", self.clean(self.version)),
            "version_quad": self.version_quad,
            "amount": lambda b: b.d("amount", self.amount()),
            "plain_amount": lambda b: b.d("amount", f"{self.money():.2f}"),
            "minor": lambda b: b.d("amount", str(self.rng.randint(100, 10**7))),
            "tracking": lambda b: b.d("tracking_number", self.clean(self.tracking)),
            "isbn": lambda b: b.d("isbn", self.clean(self.isbn)),
            "product": lambda b: b.d("part_number", self.clean(self.product)),
            "product_nanp": lambda b: b.d(
                "part_number_nanp_shape", f"{self.digits(3)}-{self.digits(3)}-{self.digits(4)}"
            ),
            "imei": lambda b: b.d("imei", self.imei()),
            "luhn_ref": lambda b: b.d("luhn_reference", self.luhn_reference()),
            "ean": self.ean,
            "last4": lambda b: b.d("card_last4", self.digits(4)),
            "masked": lambda b: b.d("masked_card", self.masked()),
            "bic": lambda b: b.d("bic", self.bic()),
            "credit_code": lambda b: b.d("credit_code", self.clean(self.credit_code)),
            "bad_ric": lambda b: b.d("bad_resident_id", self.clean(self.bad_ric)),
            "bad_iban": lambda b: b.d("bad_iban", self.clean(self.bad_iban)),
            "mac": lambda b: b.d("mac_address", self.mac()),
            # filler
            "p": lambda b: b.t(self.rng.choice(_PUNCT)),
            "cp": lambda b: b.t(self.rng.choice(_CN_PUNCT)),
            "clock": lambda b: b.t(f"{self.rng.randrange(24):02d}:{self.rng.randrange(60):02d}"),
            "sentence": lambda b: b.t(self.faker().sentence()),
            "company": lambda b: b.t(self.faker().company()),
            "title": lambda b: b.t(self.rng.choice(("Head of Payments", "CFO", "Ops lead"))),
            "country": lambda b: b.t(self.faker().country()),
            "user": lambda b: b.t(self.faker("en_US").user_name()),
            "n": lambda b: b.t(str(self.rng.randint(1, 99999))),
            "prose": self.prose,
        }

    def faker(self, locale: str | None = None) -> Faker:
        return self.fakers[locale or self.locale]

    @property
    def language(self) -> str:
        return {"de_DE": "de", "fr_FR": "fr", "zh_CN": "zh"}.get(self.locale, "en")

    def digits(self, count: int) -> str:
        return "".join(self.rng.choices(string.digits, k=count))

    def clean(self, make: Callable[[], str]) -> str:
        """A distractor from `make` that reads as no structured identifier."""
        while True:
            value = make()
            try:
                if reads_as_identifier(value) is None:
                    return value
            except phonenumbers.NumberParseException:
                continue  # a run of digits with a leading 00 that names no country

    def fill(self, b: _Builder, template: str) -> None:
        """Write `template`, its slots filled; in a Chinese template's literal text, the
        colons, semicolons and brackets are full-width in documents that type them so."""
        chinese = self.full_width and _CJK.search(template) is not None
        at = 0
        for slot in _SLOT.finditer(template):
            literal = template[at : slot.start()]
            b.t(literal.translate(_FULL_WIDTH_PUNCT) if chinese else literal)
            b.form = slot.group(2) or ""
            self.slots[slot.group(1)](b)
            b.form = ""
            at = slot.end()
        b.t(template[at:].translate(_FULL_WIDTH_PUNCT) if chinese else template[at:])

    def prose(self, b: _Builder) -> None:
        self.fill(b, self.rng.choice(_PROSE[self.language]))

    # -- entities --------------------------------------------------------------------------

    def card_number(self) -> tuple[str, str, tuple[int, ...]]:
        kind, sizes = self.rng.choice(_CARD_KINDS)
        if kind.startswith("unionpay") or kind == "jcb16":
            # Faker's JCB numbers start anywhere in 35xx; JCB issues 3528-3589 only.
            length = 16 if kind in ("unionpay16", "jcb16") else 19
            prefix = "62" if kind.startswith("unionpay") else str(self.rng.randint(3528, 3589))
            body = prefix + self.digits(length - 1 - len(prefix))
            number = next(body + c for c in string.digits if luhn_valid(body + c))
        else:
            number = str(self.faker("en_US").credit_card_number(card_type=kind))
        return kind, number, sizes

    def card(self, b: _Builder) -> None:
        kind, number, sizes = self.card_number()
        separator = self.rng.choice(("", " ", "-", " ", "-", "."))
        written, at = [], 0
        for size in sizes:
            written.append(number[at : at + size])
            at += size
        value = separator.join(written) if separator else number
        layout = {"": "compact", " ": "spaces", "-": "dashes", ".": "dots"}[separator]
        if self.locale == "zh_CN" and self.rng.random() < 0.05:
            value, layout = value.translate(_FULL_WIDTH), layout + "+fullwidth"
        b.e(Entity.CARD, value, f"{kind}/{layout}")

    def iban(self, b: _Builder) -> None:
        locale = self.rng.choice(_IBAN_LOCALES)
        while True:
            value = str(self.iban_fakers[locale].iban())
            if stdnum_iban.is_valid(value):
                break
        roll = self.rng.random()
        if roll < 0.45:
            b.e(Entity.IBAN, value, f"{value[:2]}/compact")
        elif roll < 0.92:
            grouped = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
            b.e(Entity.IBAN, grouped, f"{value[:2]}/grouped")
        else:
            b.e(Entity.IBAN, value.lower(), f"{value[:2]}/lower", LIMIT_IBAN_LOWER)

    def resident_id(self, check_x: bool = False) -> str:
        while True:
            value = str(self.faker("zh_CN").ssn())
            if (value[-1] == "X") == check_x:
                return value

    def ric(self, b: _Builder) -> None:
        roll = self.rng.random()
        if roll < 0.3:
            b.e(Entity.CN_RESIDENT_ID, self.resident_id(check_x=True), "check_X")
        elif roll < 0.4:
            b.e(Entity.CN_RESIDENT_ID, self.resident_id(check_x=True).lower(), "check_x_lower")
        elif roll < 0.55:
            value = self.resident_id(check_x=self.rng.random() < 0.3)
            b.e(Entity.CN_RESIDENT_ID, f"{value[:6]} {value[6:14]} {value[14:]}", "grouped_6-8-4")
        else:
            value, layout = self.resident_id(), "compact"
            if self.locale == "zh_CN" and self.rng.random() < 0.1:
                value, layout = value.translate(_FULL_WIDTH), "compact+fullwidth"
            b.e(Entity.CN_RESIDENT_ID, value, layout)

    def ric15(self, b: _Builder) -> None:
        value = self.resident_id()
        old = value[:6] + value[8:17]  # the first generation: two-digit year, no check
        b.e(Entity.CN_RESIDENT_ID, old, "first_generation_15", LIMIT_RIC15)

    def cn_mobile(self) -> str:
        while True:
            number = str(self.faker("zh_CN").phone_number())
            if phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
                return number

    def us_number(self) -> str:
        while True:
            raw = str(self.faker("en_US").basic_phone_number())
            number = re.sub(r"\D", "", raw)[-10:]
            if len(number) == 10 and phonenumbers.is_valid_number(phonenumbers.parse(number, "US")):
                return number

    def eu_number(self, locale: str) -> phonenumbers.PhoneNumber:
        region = _EU_REGION[locale]
        while True:
            raw = str(self.faker(locale).phone_number())
            try:
                parsed = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed) and parsed.country_code == (
                phonenumbers.country_code_for_region(region)
            ):
                return parsed

    def phone(self, b: _Builder, locale: str | None = None) -> None:
        locale = locale or self.locale
        if locale == "zh_CN":
            number = self.cn_mobile()
            x, y, z = number[:3], number[3:7], number[7:]
            layouts = {
                "plain": number,
                "+86_space": f"+86 {number}",
                "+86_grouped": f"+86 {x} {y} {z}",
                "(+86)_grouped": f"(+86) {x} {y} {z}",
                "0086": f"0086{number}",
                "0086_space": f"0086 {number}",
                "grouped_space": f"{x} {y} {z}",
                "grouped_dash": f"{x}-{y}-{z}",
                "+86-dash": f"+86-{x}-{y}-{z}",
            }
            layout = self.rng.choice(sorted(layouts))
            value = layouts[layout]
            if self.locale == "zh_CN" and self.rng.random() < 0.08:
                value, layout = value.translate(_FULL_WIDTH), layout + "+fullwidth"
            b.e(Entity.PHONE, value, f"CN/{layout}")
        elif locale == "en_US":
            number = self.us_number()
            a, c, d = number[:3], number[3:6], number[6:]
            layouts = {
                "paren": f"({a}) {c}-{d}",
                "paren_nospace": f"({a}){c}-{d}",
                "dashes": f"{a}-{c}-{d}",
                "dots": f"{a}.{c}.{d}",
                "+1_dots": f"+1.{a}.{c}.{d}",
                "+1_space_dots": f"+1 {a}.{c}.{d}",
                "+1_dashes": f"+1-{a}-{c}-{d}",
                "+1_paren": f"+1 ({a}) {c}-{d}",
                "1-dashes": f"1-{a}-{c}-{d}",
                "e164": f"+1{number}",
                "ext": f"{a}-{c}-{d} x{self.rng.randint(1, 9999)}",
                "ext_word": f"({a}) {c}-{d} ext. {self.rng.randint(1, 999)}",
                "spaces": f"{a} {c} {d}",
            }
            layout = self.rng.choice(sorted(layouts))
            b.e(Entity.PHONE, layouts[layout], f"US/{layout}")
        elif locale == "zh_CN_landline":
            self.cn_landline(b)
        else:
            self.phone_eu(b, national=self.rng.random() < 0.2, locale=locale)

    def cn_landline(self, b: _Builder) -> None:
        while True:
            area = self.rng.choice(("10", "21", "20", "755", "571", "28"))
            local = str(self.rng.randint(2, 8)) + self.digits(7)
            if phonenumbers.is_valid_number(phonenumbers.parse(f"0{area}{local}", "CN")):
                break
        layouts = {
            "dash": f"0{area}-{local}",
            "paren": f"(0{area}) {local[:4]} {local[4:]}",
            "+86": f"+86 {area} {local}",
        }
        layout = self.rng.choice(sorted(layouts))
        b.e(Entity.PHONE, layouts[layout], f"CN_landline/{layout}")

    def phone_eu(self, b: _Builder, *, national: bool, locale: str | None = None) -> None:
        if locale not in _EU_REGION:
            locale = self.rng.choice(sorted(_EU_REGION))
        region = _EU_REGION[locale]
        parsed = self.eu_number(locale)
        intl = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if national:
            value = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
            b.e(Entity.PHONE, value, f"{region}/national", LIMIT_NATIONAL)
            return
        code = f"+{parsed.country_code}"
        rest = intl[len(code) + 1 :]
        layouts = {
            "intl": intl,
            "e164": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
            "00": "00" + intl[1:],
            "intl_trunk0": f"{code} (0){rest}",
            "intl_trunk0_space": f"{code} (0) {rest}",
            "intl_dashes": code + "-" + rest.replace(" ", "-"),
        }
        layout = self.rng.choice(sorted(layouts))
        b.e(Entity.PHONE, layouts[layout], f"{region}/{layout}")

    def phone_e164(self, b: _Builder) -> None:
        locale = self.rng.choice(LOCALES)
        if locale == "zh_CN":
            b.e(Entity.PHONE, "+86" + self.cn_mobile(), "CN/e164")
        elif locale == "en_US":
            b.e(Entity.PHONE, "+1" + self.us_number(), "US/e164")
        else:
            parsed = self.eu_number(locale)
            value = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            b.e(Entity.PHONE, value, f"{_EU_REGION[locale]}/e164")

    def email(self, b: _Builder) -> None:
        faker = self.faker()
        user, _, domain = str(faker.email()).partition("@")
        roll = self.rng.randrange(7)
        if roll == 0:
            value, layout = f"{user}+{self.rng.choice(('billing', 'kyc', 'x-2'))}@{domain}", "plus"
        elif roll == 1:
            sub = self.rng.choice(("mail", "eu.mail", "billing.corp"))
            value, layout = f"{user}@{sub}.{faker.domain_name()}", "subdomain"
        elif roll == 2:
            value, layout = f"{user.capitalize()}@{domain.upper()}", "capitals"
        elif roll == 3:
            first, last = self.faker("en_US").first_name(), self.faker("en_US").last_name()
            value, layout = f"{first.lower()}.{last.lower()}@{faker.domain_name()}", "first.last"
        elif roll == 4 and self.locale == "zh_CN":
            value = f"{self.rng.randint(10**5, 10**10)}@{self.rng.choice(('qq.com', '163.com'))}"
            layout = "digits@cn"
        elif roll == 5:
            domain = self.rng.choice(("pay-ops.co.uk", "mail.example-bank.de", "sub.acme.fr"))
            value, layout = f"{user}_{self.rng.randint(1, 99)}@{domain}", "hyphen_domain"
        else:
            value, layout = f"{user}@{domain}", "plain"
        b.e(Entity.EMAIL, value, layout)

    def ipv4_port(self, b: _Builder) -> None:
        b.e(Entity.IP_ADDRESS, self.faker("en_US").ipv4_public(), "ipv4+port")
        b.t(f":{self.rng.choice((443, 8080, 22, 51234))}")

    def ipv6_compressed(self) -> str:
        groups = str(self.faker("en_US").ipv6()).split(":")
        keep = self.rng.randint(1, 4)
        return str(ipaddress.IPv6Address(":".join(groups[:keep]) + "::" + groups[-1]))

    def ipv6(self, b: _Builder) -> None:
        roll = self.rng.randrange(5)
        if roll == 0:
            b.e(Entity.IP_ADDRESS, str(self.faker("en_US").ipv6()), "ipv6/full")
        elif roll == 1:
            value = str(ipaddress.IPv6Address(self.faker("en_US").ipv6()).exploded)
            b.e(Entity.IP_ADDRESS, value, "ipv6/exploded")
        elif roll == 2:
            b.e(Entity.IP_ADDRESS, f"::ffff:{self.faker('en_US').ipv4_public()}", "ipv6/mapped")
        elif roll == 3:
            b.t("[")
            b.e(Entity.IP_ADDRESS, self.ipv6_compressed(), "ipv6/bracket+port")
            b.t(f"]:{self.rng.choice((443, 8443))}")
        else:
            b.e(Entity.IP_ADDRESS, self.ipv6_compressed(), "ipv6/compressed")

    def person_name(self, locale: str) -> str:
        faker = self.faker(locale)
        if locale == "zh_CN":
            return str(faker.name())
        return f"{faker.first_name()} {faker.last_name()}"

    @staticmethod
    def name_layout(name: str) -> str:
        if any("\u4e00" <= c <= "\u9fff" for c in name):
            return "chinese"
        words = name.split(" ")
        if any(not c.isascii() for c in name):
            return "accented"
        if any(w[:1].islower() for w in words):
            return "particle"
        if any(c in "'-" for c in name) or any(re.search(r"[a-z][A-Z]", w) for w in words):
            return "apostrophe_hyphen_camel"
        return "ascii"

    def name(self, b: _Builder, form: str = "") -> None:
        locale = self.locale
        if self.language == "zh" and form == "title":
            locale = "en_US"
        value = self.person_name(locale)
        b.e(Entity.PERSON, value, self.name_layout(value) + (f"/{form}" if form else ""))

    def name_free(self, b: _Builder) -> None:
        value = self.person_name(self.locale)
        b.e(Entity.PERSON, value, "free/" + self.name_layout(value), LIMIT_NAME_FREE)

    def name_cell(self, b: _Builder) -> None:
        value = self.person_name(self.locale)
        b.e(Entity.PERSON, value, "table_cell/" + self.name_layout(value), LIMIT_NAME_FREE)

    def address_text(self, locale: str) -> str:
        return str(self.faker(locale).address()).replace("\n", ", ")

    def address(self, b: _Builder) -> None:
        b.e(Entity.ADDRESS, self.address_text(self.locale), f"labelled/{self.locale}")

    def address_free(self, b: _Builder) -> None:
        value = self.address_text(self.locale)
        if self.locale == "en_US":
            b.e(Entity.ADDRESS, value, "free/us_street")
        elif self.locale == "zh_CN":
            b.e(Entity.ADDRESS, value, "free/cn")
        else:
            b.e(Entity.ADDRESS, value, f"free/{self.locale}", LIMIT_ADDRESS_FREE)

    def dob(self, b: _Builder, style: str = "") -> None:
        born = self.faker().date_of_birth(minimum_age=18, maximum_age=90)
        months = ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December")  # fmt: skip
        styles = {
            "iso": born.isoformat(),
            "us": f"{born.month}/{born.day}/{born.year}",
            "dmy_long": f"{born.day} {months[born.month - 1]} {born.year}",
            "mdy_long": f"{months[born.month - 1]} {born.day}, {born.year}",
            "mdy_ordinal": f"{months[born.month - 1][:3]} {born.day}th {born.year}",
            "de": f"{born.day:02d}.{born.month:02d}.{born.year}",
            "fr": f"{born.day:02d}/{born.month:02d}/{born.year}",
            "zh": f"{born.year}年{born.month}月{born.day}日",
        }
        style = style or self.rng.choice(("iso", "us", "dmy_long", "mdy_long", "mdy_ordinal"))
        b.e(Entity.DATE_OF_BIRTH, styles[style], style)

    def passport(self, b: _Builder, locale: str | None = None) -> None:
        locale = locale or self.locale
        if locale == "zh_CN":
            b.e(Entity.PASSPORT, self.rng.choice("EG") + self.digits(8), "CN")
        elif locale == "de_DE" and self.rng.random() < 0.6:
            chars = "CFGHJKLMNPRTVWXYZ0123456789"
            value = self.rng.choice("CFGHJK") + "".join(self.rng.choices(chars, k=8))
            b.e(Entity.PASSPORT, value, "DE", LIMIT_PASSPORT_SHAPE)
        elif locale == "fr_FR" and self.rng.random() < 0.6:
            letters = "".join(self.rng.choices(string.ascii_uppercase, k=2))
            value = self.digits(2) + letters + self.digits(5)
            b.e(Entity.PASSPORT, value, "FR", LIMIT_PASSPORT_SHAPE)
        else:
            value = str(self.faker("en_GB" if locale == "en_GB" else "en_US").passport_number())
            b.e(Entity.PASSPORT, value, "GB" if locale == "en_GB" else "US_9digits")

    def account(self, b: _Builder) -> None:
        low, high = (12, 19) if self.language == "zh" else (8, 12)
        value = self.clean(lambda: self.digits(self.rng.randint(low, high)))
        b.e(Entity.BANK_ACCOUNT, value, f"{len(value)}_digits")

    def secret(self, b: _Builder) -> None:
        kind = self.rng.randrange(5)
        if kind == 0:
            value, layout = "sk_live_" + "".join(self.rng.choices(_ALNUM, k=32)), "stripe"
        elif kind == 1:
            value, layout = "AKIA" + "".join(self.rng.choices(_UPPER_ALNUM, k=16)), "aws"
        elif kind == 2:
            value, layout = (
                "xoxb-"
                + "-".join(self.digits(12) for _ in range(2))
                + "-"
                + "".join(self.rng.choices(_ALNUM, k=24)),
                "slack",
            )
        elif kind == 3:
            value, layout = "AIza" + "".join(self.rng.choices(_ALNUM + "_-", k=35)), "google"
        else:
            head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
            claims = base64.urlsafe_b64encode(
                f'{{"sub":"{self.rng.randint(1, 10**9)}","iat":{self.epoch()[:10]}}}'.encode()
            ).rstrip(b"=")
            signature = "".join(self.rng.choices(_ALNUM + "_-", k=43))
            value, layout = f"{head.decode()}.{claims.decode()}.{signature}", "jwt"
        b.e(Entity.SECRET, value, layout)

    def token(self, b: _Builder) -> None:
        kind = self.rng.choice(("pan", "phone", "account", "id_number", "email"))
        b.e(
            Entity.PAYGUARD_TOKEN,
            f"tok_{kind}_" + "".join(self.rng.choices(_BASE32, k=26)),
            "vault_token",
        )

    # -- distractors -----------------------------------------------------------------------

    def day(self) -> date:
        return date.fromordinal(date(2023, 1, 1).toordinal() + self.rng.randrange(1500))

    def order(self) -> str:
        kind = self.rng.randrange(5)
        if kind == 0:
            return f"#{self.rng.randint(100000, 9999999)}"
        if kind == 1:
            return f"{self.digits(3)}-{self.digits(7)}-{self.digits(7)}"  # marketplace style
        if kind == 2:
            return f"A{self.day():%y%m}-{self.digits(5)}"
        if kind == 3:
            return f"{self.day():%Y%m%d}{self.digits(self.rng.randint(6, 10))}"
        return f"WO-{self.digits(4)}-{self.digits(4)}"

    def invoice(self) -> str:
        kind = self.rng.randrange(3)
        if kind == 0:
            return f"INV-{self.day():%Y}-{self.digits(6)}"
        if kind == 1:
            return f"RE-{self.day():%Y}/{self.digits(4)}"
        return f"F{self.day():%Y}{self.digits(5)}"

    def uuid(self) -> str:
        value = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return value.upper() if self.rng.random() < 0.2 else value

    def trace(self) -> str:
        return (
            f"00-{''.join(self.rng.choices(_HEX, k=32))}-{''.join(self.rng.choices(_HEX, k=16))}-01"
        )

    def sha(self) -> str:
        return "".join(self.rng.choices(_HEX, k=self.rng.choice((7, 12, 40))))

    def iso(self) -> str:
        moment = f"{self.day():%Y-%m-%d}T{self.rng.randrange(24):02d}:{self.rng.randrange(60):02d}"
        seconds = f":{self.rng.randrange(60):02d}"
        return moment + seconds + self.rng.choice(("Z", "+01:00", "-05:00", ".123456+08:00"))

    def stamp(self) -> str:
        return f"{self.day():%Y-%m-%d} {self.rng.randrange(24):02d}:{self.rng.randrange(60):02d}"

    def epoch(self) -> str:
        seconds = 1_680_000_000 + self.rng.randrange(120_000_000)
        return (
            str(seconds * 1000 + self.rng.randrange(1000))
            if self.rng.random() < 0.5
            else str(seconds)
        )

    def version(self) -> str:
        kind = self.rng.randrange(4)
        if kind == 0:
            return f"v{self.rng.randint(1, 12)}.{self.rng.randint(0, 40)}.{self.rng.randint(0, 9)}"
        if kind == 1:
            major, minor = self.rng.randint(1, 5), self.rng.randint(0, 9)
            return f"{major}.{minor}.{self.rng.randint(0, 20)}-rc.{self.rng.randint(1, 4)}"
        if kind == 2:
            return f"{self.day():%Y.%m.%d}"
        major, build = self.rng.randint(1, 30), self.rng.randint(1000, 30000)
        return f"{major}.0.{build}.{self.rng.randint(256, 9999)}"

    def version_quad(self, b: _Builder) -> None:
        value = ".".join(str(self.rng.randint(0, 20)) for _ in range(4))
        try:
            ipaddress.IPv4Address(value)
            b.d("version_dotted_quad", value, LIMIT_DOTTED_QUAD)
        except ValueError:
            b.d("version", value)

    def money(self) -> float:
        return self.rng.choice((1, 10, 100, 1000, 10000)) * self.rng.randint(1, 99999) / 100

    def amount(self) -> str:
        value = self.money()
        us = f"{value:,.2f}"
        swiss = us.replace(",", "'")
        eu = us.replace(",", " ").replace(".", ",").replace(" ", ".")
        return self.rng.choice(
            (f"${us}", f"€{eu}", f"{eu} €", f"£{us}", f"¥{us}", f"CHF {swiss}",
             f"{us} 元", f"USD {us}")
        )  # fmt: skip

    def tracking(self) -> str:
        kind = self.rng.randrange(6)
        if kind == 0:
            return "1Z" + "".join(self.rng.choices(_UPPER_ALNUM, k=6)) + self.digits(10)
        if kind == 1:
            groups = "9400" + self.digits(18)
            return " ".join(groups[i : i + 4] for i in range(0, 22, 4))
        if kind == 2:
            return "JD" + self.digits(18)
        if kind == 3:
            return "".join(self.rng.choices(string.ascii_uppercase, k=2)) + self.digits(9) + "GB"
        if kind == 4:
            return "SF" + self.digits(13)
        return self.digits(10)  # DHL Express

    def isbn(self) -> str:
        body = "978" + self.rng.choice("0123") + self.digits(8)
        check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10
        value = body + str(check)
        if self.rng.random() < 0.5:
            return value
        return f"{value[:3]}-{value[3]}-{value[4:7]}-{value[7:12]}-{value[12]}"

    def product(self) -> str:
        kind = self.rng.randrange(4)
        if kind == 0:
            return f"{self.digits(3)}-{self.digits(4)}-{self.digits(2)}"
        if kind == 1:
            return f"SKU-{self.digits(4)}-{self.digits(4)}"
        if kind == 2:
            return f"XR{self.digits(4)}/{self.digits(3)}"
        return f"{self.digits(4)}.{self.digits(3)}.{self.digits(3)}"

    def imei(self) -> str:
        body = self.rng.choice(("35", "86", "01", "99")) + self.digits(12)
        return next(body + c for c in string.digits if luhn_valid(body + c))

    def luhn_reference(self) -> str:
        """A Luhn-valid number no card scheme issues (starts with 9 or 1)."""
        body = self.rng.choice("19") + self.digits(self.rng.randint(15, 18) - 1)
        return next(body + c for c in string.digits if luhn_valid(body + c))

    def ean(self, b: _Builder) -> None:
        body = self.rng.choice(("40", "50", "69", "87")) + self.digits(10)
        check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10
        value = body + str(check)
        b.d("ean13_luhn" if luhn_valid(value) else "ean13", value)

    def masked(self) -> str:
        _, number, _ = self.card_number()
        return self.rng.choice(
            (
                f"**** **** **** {number[-4:]}",
                number[:6] + "*" * (len(number) - 10) + number[-4:],
                f"XXXX-XXXX-XXXX-{number[-4:]}",
            )
        )

    def bic(self) -> str:
        bank = "".join(self.rng.choices(string.ascii_uppercase, k=4))
        country = self.rng.choice(("DE", "FR", "GB", "NL", "CN"))
        return (
            bank
            + country
            + "".join(self.rng.choices(_UPPER_ALNUM, k=2))
            + self.rng.choice(("", "XXX"))
        )

    def credit_code(self) -> str:
        return "91" + self.digits(6) + "".join(self.rng.choices(_UPPER_ALNUM, k=10))

    def bad_ric(self) -> str:
        value = self.resident_id()
        wrong = [c for c in "0123456789X" if c != value[17]]
        return value[:17] + self.rng.choice(wrong)

    def bad_iban(self) -> str:
        value = str(self.iban_fakers[self.rng.choice(_IBAN_LOCALES)].iban())
        check = (int(value[2:4]) + self.rng.randint(1, 96) - 2) % 97 + 2
        return value[:2] + f"{check:02d}" + value[4:]

    def mac(self) -> str:
        return ":".join(f"{self.rng.randrange(256):02x}" for _ in range(6))

    # -- documents -------------------------------------------------------------------------

    def document(self, doc_id: int) -> Document:
        self.locale = self.rng.choice(LOCALES)
        self.full_width = self.rng.random() < 0.6
        shape = self.rng.choice(SHAPES)
        b = _Builder()
        if shape == "prose":
            for i in range(self.rng.randint(2, 5)):
                if i:
                    b.t(self.rng.choice((" ", " ", "\n")) if self.language != "zh" else "")
                self.prose(b)
        elif shape == "email":
            self.fill(b, self.rng.choice(_EMAIL_BODY[self.language]))
        elif shape == "chat":
            for i in range(self.rng.randint(3, 7)):
                if i:
                    b.t("\n")
                self.fill(b, self.rng.choice(_CHAT_LINE))
        elif shape == "csv":
            b.t(_CSV_HEAD)
            template = self.rng.choice(_CSV_ROW)
            for i in range(self.rng.randint(2, 6)):
                if i:
                    b.t("\n")
                self.fill(b, template)
        elif shape == "kv_log":
            for i in range(self.rng.randint(2, 6)):
                if i:
                    b.t("\n")
                self.fill(b, self.rng.choice(_KV_LOG))
        elif shape == "json":
            self.fill(b, self.rng.choice(_JSON))
        elif shape == "markdown":
            b.t(_MARKDOWN_HEAD)
            for i in range(self.rng.randint(2, 5)):
                if i:
                    b.t("\n")
                self.fill(b, _MARKDOWN_ROW)
        elif shape == "form":
            self.fill(b, self.rng.choice(_FORM))
        else:
            self.fill(b, self.rng.choice(_FRAGMENT))
        return Document(
            doc_id=doc_id,
            locale=self.locale,
            shape=shape,
            text="".join(b.parts),
            labels=tuple(b.labels),
            distractors=tuple(b.distractors),
        )


def generate(*, seed: int, docs: int) -> Iterator[Document]:
    """`docs` documents of the held-out corpus of `seed`, one at a time."""
    corpus = _Heldout(seed)
    for doc_id in range(docs):
        yield corpus.document(doc_id)


# -- scoring and the report ----------------------------------------------------------------


def _row(name: str, exact: Counts, overlap: Counts) -> str:
    cells = [f"{name:<20}{exact.labelled:>7,}{exact.found:>7,} "]
    for counts in (exact, overlap):
        p_defined, r_defined = counts.found > 0, counts.labelled > 0
        cells.append(
            f" {ratio(counts.precision, p_defined)} {ratio(counts.recall, r_defined)}"
            f" {ratio(counts.f1, p_defined and r_defined)} "
        )
    return "|".join(cells).rstrip()


def _overlapping(a: Label | Finding | Distractor, b: Label | Finding | Distractor) -> bool:
    return a.start < b.end and b.start < a.end


def _table(
    title: str, docs: Sequence[Document], findings: Sequence[list[Finding]], in_scope: bool
) -> dict[Entity, Counts]:
    """Print one per-entity table; the exact counts. With `in_scope`, labels under a
    documented limit are left out, and so are findings of their entity that overlap them."""
    exact = {entity: Counts() for entity in Entity}
    overlap = {entity: Counts() for entity in Entity}
    for doc, found in zip(docs, findings, strict=True):
        labels: Sequence[Label] = doc.labels
        kept: Sequence[Finding] = found
        if in_scope:
            limited = [lab for lab in labels if lab.limit]
            labels = [lab for lab in labels if not lab.limit]
            kept = [
                f
                for f in found
                if not any(lab.entity == f.entity and _overlapping(lab, f) for lab in limited)
            ]
        doc_exact, doc_overlap = score(labels, kept)
        for entity in Entity:
            exact[entity].add(doc_exact[entity])
            overlap[entity].add(doc_overlap[entity])
    print(f"\n{title}")
    print(f"{'entity':<20}{'labels':>7}{'found':>7} | exact{'':16}| overlap")
    print(f"{'':<34} |  {'P':<7}{'R':<7}{'F1':<7}|  {'P':<7}{'R':<7}F1")
    shown = [e for e in Entity if exact[e].labelled or exact[e].found]
    for entity in shown:
        print(_row(entity.value, exact[entity], overlap[entity]))
    print(_row("structured (micro)", micro(exact, STRUCTURED), micro(overlap, STRUCTURED)))
    print(_row("all (micro)", micro(exact, shown), micro(overlap, shown)))
    return exact


def _context(text: str, start: int, end: int) -> str:
    before = text[max(0, start - 28) : start].replace("\n", "⏎")
    after = text[end : end + 18].replace("\n", "⏎")
    return f"{before}[[{text[start:end]}]]{after}"


def _false_cause(doc: Document, f: Finding) -> str:
    """Why a finding matches no label exactly: the span of a label of its entity is cut
    differently, it overlaps a label of another entity or a distractor, or plain text."""
    same = [lab for lab in doc.labels if lab.entity == f.entity and _overlapping(lab, f)]
    if same:
        return "span differs from label" + (" (limit)" if any(lab.limit for lab in same) else "")
    other = [lab for lab in doc.labels if _overlapping(lab, f)]
    if other:
        return f"inside a {other[0].entity.value} label"
    hits = [d for d in doc.distractors if _overlapping(d, f)]
    if hits:
        return f"distractor {hits[0].kind}"
    return "unlabelled text"


def report(
    docs: Sequence[Document], findings: Sequence[list[Finding]], errors: int, seconds: float
) -> None:
    size = sum(len(doc.text.encode("utf-8")) for doc in docs)
    all_exact = _table("all labels (documented limits included):", docs, findings, False)
    scoped = _table(
        "in scope (labels under a documented limit, and findings on them, left out):",
        docs,
        findings,
        True,
    )

    # Recall per variant, and the documented limits.
    per_variant: dict[tuple[Entity, str, str | None], list[int]] = defaultdict(lambda: [0, 0, 0])
    misses: dict[Entity, list[str]] = defaultdict(list)
    false: dict[Entity, list[str]] = defaultdict(list)
    causes: dict[Entity, Counter[str]] = defaultdict(Counter)
    for doc, found in zip(docs, findings, strict=True):
        exact = {(f.start, f.end, f.entity) for f in found}
        for lab in doc.labels:
            tally = per_variant[lab.entity, lab.variant, lab.limit]
            tally[0] += 1
            if (lab.start, lab.end, lab.entity) in exact:
                tally[1] += 1
            near = [f for f in found if _overlapping(lab, f)]
            if any(f.entity == lab.entity for f in near):
                tally[2] += 1
            if (lab.start, lab.end, lab.entity) not in exact:
                got = (
                    ", ".join(f"{f.entity.value}:{doc.text[f.start : f.end]!r}" for f in near)
                    or "-"
                )
                misses[lab.entity].append(
                    f"[{lab.variant}{' | LIMIT' if lab.limit else ''}] "
                    f"{_context(doc.text, lab.start, lab.end)}  found {got}"
                )
        labelled = {(lab.start, lab.end, lab.entity) for lab in doc.labels}
        for f in found:
            if (f.start, f.end, f.entity) not in labelled:
                cause = _false_cause(doc, f)
                causes[f.entity][cause] += 1
                false[f.entity].append(
                    f"[{cause}] {_context(doc.text, f.start, f.end)}"
                    f"  ({f.recognizer} {f.score:.2f})"
                )

    print("\ndocumented limits (planted, labelled; not counted as recognizer bugs):")
    limits: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_, _, limit), (n, hit, near) in per_variant.items():
        if limit:
            for i, value in enumerate((n, hit, near)):
                limits[limit][i] += value
    for limit, (n, hit, near) in sorted(limits.items()):
        print(f"  {limit:<52}{n:>6,} labels, found exact {hit:>5,}, overlapping {near:>5,}")

    print("\nrecall per variant below 1.0 (entity, variant@form, limit):  labels  exact  overlap")
    perfect = 0
    for (entity, variant, limit), (n, hit, near) in sorted(
        per_variant.items(), key=lambda item: (item[0][0].value, item[0][1])
    ):
        if hit == n:
            perfect += 1
            continue
        tag = " (limit)" if limit else ""
        print(f"  {entity.value:<15}{variant + tag:<44}{n:>6,} {hit / n:>6.3f} {near / n:>7.3f}")
    print(f"  ({perfect} other variants: every label found with its exact span)")

    print("\nfindings that match no label exactly, by cause:")
    for entity in sorted(causes, key=lambda e: e.value):
        listed = ", ".join(f"{cause} {n:,}" for cause, n in causes[entity].most_common())
        print(f"  {entity.value:<15}{listed}")

    distractors: Counter[str] = Counter()
    reported: Counter[str] = Counter()
    reported_as: dict[str, Counter[str]] = defaultdict(Counter)
    for doc, found in zip(docs, findings, strict=True):
        for d in doc.distractors:
            kind = d.kind + (" (limit)" if d.limit else "")
            distractors[kind] += 1
            hits = [f for f in found if _overlapping(d, f)]
            if hits:
                reported[kind] += 1
                reported_as[kind].update(f.entity.value for f in hits)
    print("\ndistractors reported (any overlapping finding):")
    for kind, count in sorted(distractors.items()):
        as_ = ", ".join(f"{e} {n}" for e, n in reported_as[kind].most_common(3))
        print(f"  {kind:<30}{reported[kind]:>6,} of {count:>6,}" + (f"  as {as_}" if as_ else ""))

    if errors:
        for entity in sorted(set(misses) | set(false), key=lambda e: e.value):
            for title, lines in (("missed", misses[entity]), ("false", false[entity])):
                if not lines:
                    continue
                # Spread the examples over the causes/variants rather than the first few.
                picked = _spread(lines, errors)
                print(f"\n{entity.value} {title} ({len(lines):,}), {len(picked)} shown:")
                for line in picked:
                    print(f"  {line}")

    print(
        f"\nthroughput: {size / MB / seconds:.2f} MB/s ({size / MB:.2f} MB UTF-8 in "
        f"{seconds:.2f} s of scan, one thread), {len(docs) / seconds:,.0f} documents/s"
    )
    inside = micro(scoped, STRUCTURED)
    print(
        f"in scope: structured precision {inside.precision:.3f} recall {inside.recall:.3f} "
        f"F1 {inside.f1:.3f}"
    )
    print(headline(micro(all_exact, STRUCTURED)))


def _spread(lines: Sequence[str], limit: int) -> list[str]:
    """Up to `limit` lines, round-robin over their leading `[tag]`, so each kind shows."""
    groups: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        groups[line.split("]", 1)[0]].append(line)
    picked: list[str] = []
    while len(picked) < limit and any(groups.values()):
        for key in sorted(groups, key=lambda k: -len(groups[k])):
            if groups[key] and len(picked) < limit:
                picked.append(groups[key].pop(0))
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument(
        "--errors", type=int, default=0, help="print N missed and N false findings per entity"
    )
    args = parser.parse_args()
    if args.docs < 1:
        parser.error("--docs is 1 or more")
    started = time.perf_counter()
    docs = list(generate(seed=args.seed, docs=args.docs))
    generated = time.perf_counter() - started
    scanner = Scanner.default()
    scanner.scan(docs[0].text)  # warm up
    started = time.perf_counter()
    findings = [scanner.scan(doc.text) for doc in docs]
    seconds = time.perf_counter() - started
    locales = Counter(doc.locale for doc in docs)
    shapes = Counter(doc.shape for doc in docs)
    print(
        f"Data Shield held-out corpus: {len(docs):,} documents, seed {args.seed}, "
        f"{sum(len(doc.labels) for doc in docs):,} labels, "
        f"{sum(len(doc.distractors) for doc in docs):,} distractors; generated in "
        f"{generated:.1f} s"
    )
    print("locales: " + ", ".join(f"{k} {v}" for k, v in sorted(locales.items())))
    print("shapes: " + ", ".join(f"{k} {v}" for k, v in sorted(shapes.items())))
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{datetime.now(UTC).date().isoformat()}; scanner: Scanner.default(), one thread"
    )
    report(docs, findings, args.errors, seconds)


if __name__ == "__main__":
    main()
