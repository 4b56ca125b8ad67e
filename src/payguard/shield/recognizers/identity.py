"""Identity documents and personal details: Chinese resident ids, passport numbers, names,
postal addresses and dates of birth."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from datetime import date

from payguard.shield.interfaces import Entity
from payguard.shield.recognizers.base import (
    ALNUM,
    BaseRecognizer,
    Candidate,
    Context,
    matches,
    trie_regex,
)
from payguard.shield.recognizers.validators import cn_ric_valid

__all__ = [
    "AddressRecognizer",
    "DateOfBirthRecognizer",
    "PassportRecognizer",
    "PersonRecognizer",
    "ResidentIdRecognizer",
]

_RESIDENT_ID = re.compile(
    r"[1-9](?<![0-9A-Za-z].)[0-9]{5}[ \-]?(?:19|20)[0-9]{6}[ \-]?[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)


class ResidentIdRecognizer(BaseRecognizer):
    """Chinese resident identity numbers (18 characters, optionally 6-8-4 grouped): the MOD
    11-2 check character, a province code and a real birth date (0.95; 1.0 with context).
    An 18-digit number failing the check is not an id (and a vault id token fails it). The
    score is above a card's (0.9): one id in ten also passes Luhn, and ids of Gansu (62) and
    Xinjiang (65) start like UnionPay and Discover cards."""

    name = "cn_resident_id"
    entity = Entity.CN_RESIDENT_ID
    context = Context(
        ("身份证", "身份证号", "身份证号码", "公民身份号码", "证件号", "证件号码", "id card",
         "id number", "id no", "resident id", "identity"),
        boost=0.1,
    )  # fmt: skip

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in _RESIDENT_ID.finditer(text, start, end):
            if cn_ric_valid(match.group()):
                yield match.start(), match.end(), 0.95


#: Letters and digits as passports number them: one or two letters and 7-8 digits (China,
#: UK, US and many more), 9 digits, French `12AB34567`, German `C01X00T47` (nine of its
#: letters and digits, starting with a letter).
_PASSPORT = re.compile(
    r"(?:[A-Z]{1,2}[0-9]{7,8}|[0-9]{9}|[0-9]{2}[A-Z]{2}[0-9]{5}"
    r"|[CFGHJK][0-9CFGHJKLMNPRTVWXYZ]{8})(?![0-9A-Za-z])"
)
_CN_PASSPORT = re.compile(r"[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}")


class PassportRecognizer(BaseRecognizer):
    """Passport-like numbers (one or two letters and 7-8 digits, or 9 digits) near passport
    context: alone they are order numbers (0.1; Chinese E/G + 8 digits 0.25); with context
    0.65 and 0.8."""

    name = "passport"
    context_only = True
    entity = Entity.PASSPORT
    context = Context(
        ("passport", "passport no", "passport number", "travel document", "护照", "护照号",
         "护照号码", "reisepass", "reisepassnummer", "passnummer", "passeport"),
        boost=0.55,
    )  # fmt: skip

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in matches(_PASSPORT, text, start, end, ALNUM):
            yield match.start(), match.end(), 0.25 if _CN_PASSPORT.fullmatch(match.group()) else 0.1


#: Latin capitals and small letters, with the accented ones of Latin-1 and Latin Extended-A
#: (`Valérie`, `Gülay`, `Łukasz`; Extended-A alternates capital and small, so it is in both).
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de\u0100-\u017f"
_LOWER = "a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u017f"
#: A capitalised name word: `Ann`, `Smith-Jones`, `O'Brien` (either apostrophe), `Grégoire`.
_NAME_WORD = (
    rf"(?:[A-Z]['\u2019](?=[A-Z]))?[{_UPPER}][{_LOWER}]+(?:['\u2019\-][{_UPPER}]?[{_LOWER}]+)?"
    rf"(?![{_UPPER}{_LOWER}])"
)
#: Labels a name follows (`name: Ann Lee`), matched before the `:` or `=` in lower case.
_NAME_LABELS = (
    "name on the account", "name on account", "name on card", "full name", "first name",
    "last name", "name", "cardholder", "card holder", "account holder", "recipient",
    "beneficiary", "payee", "payer", "owner", "contact", "attn", "holder", "customer_name",
    "legal_name", "nom", "prénom", "nom complet", "titulaire", "vorname", "nachname",
    "inhaber", "empfänger",
)  # fmt: skip
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Dr|Prof)"
_SUFFIX = r"(?:,? (?:Jr\.|Sr\.|II|III|IV|MD|DDS|DVM|PhD))"
_CN_NAME = r"[\u4e00-\u9fff][\u4e00-\u9fff·]{1,3}"
_LABELLED_NAME = (
    rf" ?\"?(?P<name>(?:{_TITLE}\.? )?{_NAME_WORD}(?: {_NAME_WORD}){{0,3}}{_SUFFIX}?|{_CN_NAME})"
)
#: A name after a label's `:` or `=`, and after ` - ` (`Name - Ann Lee`): two patterns, so
#: each starts with what it needs (a search for `[:=]| -` would stop at every space).
_LABELLED = (re.compile(f"[:=]{_LABELLED_NAME}"), re.compile(f" -{_LABELLED_NAME}"))
_TITLED = re.compile(rf"{_TITLE}\.? (?P<name>{_NAME_WORD}(?: {_NAME_WORD}){{0,2}})")
_CN_LABELLED = re.compile(
    r"(?:姓名|名字|收货人|收件人|联系人|持卡人|户名|开户名|寄件人|乘客|患者|申请人|"
    r"付款人|收款人|负责人|经办人|对接人)"
    r"\s?:?\s?(?P<name>[\u4e00-\u9fff][\u4e00-\u9fff·]{1,3}"
    rf"|{_NAME_WORD}(?: {_NAME_WORD}){{0,3}})"
)
#: Words that follow a Chinese name without a break and are not part of it.
_CN_AFTER_NAME = re.compile(
    r"(?:电话|手机|地址|先生|女士|小姐|身份|证件|卡号|账号|邮箱|联系|的|于|在|已)"
)
#: Capitalised words that end a name: the next label on the line.
_NAME_STOP = frozenset(
    "Email E-mail Phone Tel Mobile Address Addr Card Account Date Dob Id Passport Order "
    "Amount Born Birth Street City From To Re Subject Name Hi Hello Thanks".lower().split()
)
_LETTERS = frozenset(string.ascii_letters)


def _after_label(text: str, colon: int, labels: tuple[str, ...]) -> bool:
    """Whether one of `labels` (lower case, longest first where one ends another) stands
    right before `text[colon]`, an ASCII label as a whole word or the last word of a
    camelCase key (`customerName`)."""
    written = text[max(0, colon - 24) : colon].rstrip(" \"'")
    before = written.lower()
    if not before.endswith(labels):
        return False
    for label in labels:
        if before.endswith(label):
            at = len(before) - len(label)
            if at == 0 or not label.isascii() or before[at - 1] not in _LETTERS:
                return True
            return (
                len(written) == len(before) and written[at].isupper() and written[at - 1].islower()
            )
    return False


class PersonRecognizer(BaseRecognizer):
    """Names, where the words before them make them likely: a label (`name:`, `cardholder:`,
    `姓名:`, `收货人`: 0.7), or a title (`Mr.`, `Dr`: 0.65). A name is 1-4 capitalised words,
    or 2-4 Chinese characters. Names in running prose without such a cue are not found."""

    name = "person"
    entity = Entity.PERSON

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for labelled in _LABELLED:
            for match in labelled.finditer(text, start, end):
                if _after_label(text, match.start(), _NAME_LABELS):
                    yield from self._name(text, *match.span("name"), 0.7)
        for match in matches(_TITLED, text, start, end, _LETTERS):
            yield from self._name(text, *match.span("name"), 0.65)
        for match in _CN_LABELLED.finditer(text, start, end):
            yield from self._name(text, *match.span("name"), 0.7)

    @staticmethod
    def _name(text: str, start: int, end: int, score: float) -> Iterator[Candidate]:
        # A word that starts inside the name may end past it (`刘玉珍电话`: `电` is the
        # name's last character only if `话` is not next).
        cut = _CN_AFTER_NAME.search(text, start + 2, min(len(text), end + 1))
        if cut is not None and cut.start() < end:
            end = cut.start()
        words = text[start:end].split(" ")
        kept = next((i for i, word in enumerate(words) if word.lower() in _NAME_STOP), len(words))
        if kept:
            end = start + len(" ".join(words[:kept]))
            if words[kept - 1] in ("Jr", "Sr") and text[end : end + 1] == ".":
                end += 1
            yield start, end, score


#: Street suffixes: the USPS's (Publication 28, appendix C1) primary names and their
#: common abbreviations, and a few British ones (Close, Mews, Row, Walk, Gardens).
_STREET_SUFFIXES = re.split(
    r"\s+",
    """
    Alley Aly Annex Arcade Avenue Ave Bayou Beach Bend Bluffs? Bottom Boulevard Blvd Branch
    Bridge Brooks? Burgs? Bypass Camp Canyon Cape Causeway Center Ctr Circles? Cir Cliffs?
    Close Club Commons? Corners? Course Court Ct Courts Coves? Creek Crescent Crest Crossing
    Crossroads? Curve Dale Dam Divide Drives? Dr Estates? Expressway Expy Extensions? Falls?
    Ferry Fields? Flats? Fords? Forest Forges? Forks? Fort Freeway Fwy Gardens? Gateway
    Glens? Greens? Groves? Harbors? Haven Heights Highway Hwy Hills? Hollow Inlet Island
    Islands Isle Junctions? Jct Keys? Knolls? Lakes? Land Landing Lane Ln Lights? Loaf Locks?
    Lodge Loop Mall Manors? Meadows? Mews Mills? Mission Motorway Mount Mountains? Neck
    Orchard Oval Overpass Park Parks Parkways? Pkwy Pass Passage Path Pike Pines? Place Pl
    Plains? Plaza Points? Ports? Prairie Radial Ramp Ranch Rapids? Rest Ridges? River Road
    Rd Roads Route Row Rue Run Shoals? Shores? Skyway Springs? Spurs? Square Sq Squares
    Station Stravenue Stream Streets? St Summit Terrace Ter Throughway Trace Track
    Trafficway Trail Trl Trailer Tunnel Turnpike Underpass Unions? Valleys? Viaduct Views?
    Villages? Ville Vista Walks? Wall Ways? Wells?
""".strip(),
)


#: `Bluffs?` is `Bluff` and `Bluffs`.
_STREET_SUFFIX = trie_regex(
    {
        variant
        for word in _STREET_SUFFIXES
        for variant in ((word[:-2], word[:-1]) if word.endswith("?") else (word,))
    }
)
_US_ADDRESS = re.compile(
    rf"[0-9]{{1,6}} (?:[A-Z][a-z]+ ){{1,4}}{_STREET_SUFFIX}\.?"
    r"(?:,? (?:Apt\.|Apt|Suite|Unit|#) ?[0-9]{1,5}[A-Z]?)?"
    r"(?:,?\s[A-Z][a-z]+(?: [A-Z][a-z]+){0,2},? [A-Z]{2} [0-9]{5}(?:-[0-9]{4})?)?"
    r"(?![A-Za-z])"
)
_CJK = r"\u4e00-\u9fff"
#: The province-level divisions' names: a Chinese address found by its shape starts at
#: one when one lies in the characters the shape took before it (`我住在山东省…`).
_CN_PROVINCE = re.compile(
    "北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|"
    "湖南|广东|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
_CN_ADDRESS = re.compile(
    rf"[{_CJK}]{{2,7}}?(?:省|自治区|特别行政区|市)[{_CJK}]{{1,8}}?(?:市|区|县|州|盟|旗)"
    rf"[{_CJK}0-9A-Za-z#\-]{{0,40}}"
)
#: Labels an address follows (`address: ...`), matched before the `:` in lower case.
_ADDRESS_LABELS = (
    "home address", "mailing address", "shipping address", "billing address", "address",
    "addr", "ship to", "deliver to", "adresse", "anschrift", "收货地址", "送货地址",
    "家庭住址", "联系地址", "通讯地址", "详细地址", "住址", "地址",
)  # fmt: skip
#: A colon after what may end an address label: every label ends in one of these letters
#: (quotes and spaces may stand between), so most colons (a time's, a URL's) are not read.
#: A character class first: the search skips ahead to it in C.
_ADDRESS_COLON = re.compile(r"[rRsSeEtToO址][ \"']*:")
_ADDRESS_BODY = re.compile(r" ?\"?(?P<address>[^\n\r;。|:\"]{4,120})")


#: A label that starts the next field on the line, where a labelled address ends.
_NEXT_LABEL = re.compile(
    r"收货人|收件人|联系人|姓名|电话|手机|邮箱|联系方式|"
    r"(?<![A-Za-z])(?i:tel|phone|mobile|email|e-mail|name|contact)(?![A-Za-z])"
)


class AddressRecognizer(BaseRecognizer):
    """Postal addresses: after an address label (`address:`, `地址:`, 0.8, up to the end of
    the line or 120 characters), a US-style street line (number, capitalised words, a
    street suffix, optional unit and `City, ST 12345`: 0.7), or a Chinese address that
    starts with a province or city and a district or county (0.6)."""

    name = "address"
    entity = Entity.ADDRESS

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for labelled in _ADDRESS_COLON.finditer(text, start, end):
            colon = labelled.end() - 1
            body = _ADDRESS_BODY.match(text, colon + 1, end)
            if body is None or not _after_label(text, colon, _ADDRESS_LABELS):
                continue
            low, high = body.span("address")
            cut = _NEXT_LABEL.search(text, low, high)
            if cut is not None:
                high = cut.start()
            while high > low and text[high - 1] in " ,.、":
                high -= 1
            # An address has words: `remote_addr: 192.0.2.7` is an IP address's label.
            if high - low >= 4 and any(char.isalpha() for char in text[low:high]):
                yield low, high, 0.8
        for match in matches(_US_ADDRESS, text, start, end, ALNUM):
            yield match.start(), match.end(), 0.7
        for match in _CN_ADDRESS.finditer(text, start, end):
            low = match.start()
            province = _CN_PROVINCE.search(text, low, low + 7)
            yield (province.start() if province else low), match.end(), 0.6


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sept|sep|oct|nov|dec)[a-z]{0,6}\.?"
_YEAR = r"((?:19|20)[0-9]{2})"
_NN = r"([0-9]{1,2})"
_DATES = (
    # (regex, order of the groups: y m d)
    (re.compile(rf"(?<![0-9]){_YEAR}[\-/.]{_NN}[\-/.]{_NN}(?![0-9])"), "ymd"),
    (re.compile(rf"{_YEAR} ?年 ?{_NN} ?月 ?{_NN} ?[日号]"), "ymd"),
    (re.compile(rf"(?<![0-9]){_NN}[\-/.]{_NN}[\-/.]{_YEAR}(?![0-9])"), "mdy"),
    (re.compile(rf"(?<![A-Za-z])({_MONTH}) {_NN}(?:st|nd|rd|th)?,? {_YEAR}(?![0-9])"), "Mdy"),
    (re.compile(rf"(?<![0-9]){_NN} ({_MONTH}),? {_YEAR}(?![0-9])"), "dMy"),
)


def _real_date(order: str, parts: tuple[str, ...]) -> bool:
    values = dict(zip(order.lower(), parts, strict=True))
    year, day = int(values["y"]), int(values["d"])
    month_text = values["m"]
    if not month_text.isdigit():
        month = next(
            (i + 1 for i, name in enumerate(_MONTHS) if month_text.lower().startswith(name)), 0
        )
    else:
        month = int(month_text)
    candidates = [(month, day)] if order != "mdy" else [(month, day), (day, month)]
    for m, d in candidates:
        try:
            date(year, m, d)
        except ValueError:
            continue
        return True
    return False


class DateOfBirthRecognizer(BaseRecognizer):
    """Dates (ISO, `1990年1月2日`, d/m/y and m/d/y, month names) near birth context (`born`,
    `DOB`, `出生`, `生日`): 0.15 alone, 0.65 with context. Each date must exist."""

    name = "date_of_birth"
    context_only = True
    entity = Entity.DATE_OF_BIRTH
    context = Context(
        ("born", "birth", "date of birth", "birthday", "dob", "d.o.b", "d.o.b.", "出生",
         "出生日期", "出生年月", "生日", "出生于", "geburtsdatum", "geboren", "né le",
         "née le", "date de naissance"),
        boost=0.5,
    )  # fmt: skip

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for regex, order in _DATES:
            for match in regex.finditer(text, start, end):
                if _real_date(order, match.groups()):
                    yield match.start(), match.end(), 0.15
