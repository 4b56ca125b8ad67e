"""The built-in recognizers, one small class each (presidio's shape), and the base classes a
partner's YAML recognizer is made of (`shield.custom`)."""

from __future__ import annotations

from payguard.shield.interfaces import Recognizer
from payguard.shield.recognizers.base import (
    BaseRecognizer,
    Context,
    Pattern,
    PatternRecognizer,
)
from payguard.shield.recognizers.contact import (
    ChinaPhoneRecognizer,
    EmailRecognizer,
    InternationalPhoneRecognizer,
    IpAddressRecognizer,
)
from payguard.shield.recognizers.credentials import (
    HighEntropySecretRecognizer,
    KnownSecretRecognizer,
    PayguardTokenRecognizer,
)
from payguard.shield.recognizers.financial import (
    BankAccountRecognizer,
    CardRecognizer,
    IbanRecognizer,
)
from payguard.shield.recognizers.identity import (
    AddressRecognizer,
    DateOfBirthRecognizer,
    PassportRecognizer,
    PersonRecognizer,
    ResidentIdRecognizer,
)
from payguard.shield.recognizers.validators import VALIDATORS

__all__ = [
    "VALIDATORS",
    "AddressRecognizer",
    "BankAccountRecognizer",
    "BaseRecognizer",
    "CardRecognizer",
    "ChinaPhoneRecognizer",
    "Context",
    "DateOfBirthRecognizer",
    "EmailRecognizer",
    "HighEntropySecretRecognizer",
    "IbanRecognizer",
    "InternationalPhoneRecognizer",
    "IpAddressRecognizer",
    "KnownSecretRecognizer",
    "PassportRecognizer",
    "Pattern",
    "PatternRecognizer",
    "PayguardTokenRecognizer",
    "PersonRecognizer",
    "ResidentIdRecognizer",
    "builtin",
]


def builtin() -> list[Recognizer]:
    """A fresh instance of every built-in recognizer."""
    return [
        PayguardTokenRecognizer(),
        CardRecognizer(),
        IbanRecognizer(),
        BankAccountRecognizer(),
        ResidentIdRecognizer(),
        ChinaPhoneRecognizer(),
        InternationalPhoneRecognizer(),
        EmailRecognizer(),
        IpAddressRecognizer(),
        PassportRecognizer(),
        PersonRecognizer(),
        AddressRecognizer(),
        DateOfBirthRecognizer(),
        KnownSecretRecognizer(),
        HighEntropySecretRecognizer(),
    ]
