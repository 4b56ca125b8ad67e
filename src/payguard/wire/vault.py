"""Wire shapes of `/v1/tokens`: values in, tokens and their metadata out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from payguard.core.ids import PURPOSE_MAX, PURPOSE_PATTERN
from payguard.vault.interfaces import TokenStyle
from payguard.wire.schemas import Identifier, Strict, _storable

#: The kinds of value (`vault.kinds.Kind`; a test checks the two agree).
Kind = Literal["pan", "account", "phone", "id_number", "email", "generic"]
#: The most values or tokens per call (`vault.service.MAX_VALUES`).
MAX_VALUES = 1000
#: The longest a token lives, in seconds (`vault.service.MAX_TTL`).
MAX_TTL_SECONDS = 400 * 86400
#: The longest value (`vault.kinds.GENERIC_MAX`).
GENERIC_MAX = 256

#: What a token looks like on the wire: a vault token (`tok_<kind>_...`), or a
#: format-preserving one (digits, an IBAN-shaped string, `+` and digits).
TOKEN_PATTERN = r"^\+?[A-Za-z0-9_]{1,127}$"  # noqa: S105 - a pattern, not a secret
TokenText = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=TOKEN_PATTERN)]
#: A clear value: checked per kind by the vault (`vault.kinds`), here only bounded.
Value = Annotated[
    str, StringConstraints(min_length=1, max_length=GENERIC_MAX), AfterValidator(_storable)
]
SCOPE_PATTERN = r"^(merchant|device|channel):[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$"
Scope = Annotated[str, StringConstraints(max_length=137, pattern=SCOPE_PATTERN)]
Purpose = Annotated[
    str, StringConstraints(min_length=1, max_length=PURPOSE_MAX, pattern=PURPOSE_PATTERN)
]


class TokenizeIn(Strict):
    """One value (`value`) or a batch (`values`, at most 1,000) of one kind."""

    kind: Kind
    value: Value | None = None
    values: list[Value] | None = Field(default=None, min_length=1, max_length=MAX_VALUES)
    style: TokenStyle | None = Field(
        default=None, description="The token style; the tenant's policy default if absent"
    )
    scope: Scope | None = Field(
        default=None, description="Bind the tokens to one merchant, device or channel"
    )
    ttl_seconds: int | None = Field(
        default=None, ge=1, le=MAX_TTL_SECONDS, description="Tokens expire after"
    )
    subject: Identifier | None = Field(
        default=None,
        description="The person the values belong to: `POST /v1/tokens/shred` erases them",
    )

    @model_validator(mode="after")
    def _one_of(self) -> TokenizeIn:
        if (self.value is None) == (self.values is None):
            raise ValueError("give exactly one of 'value' and 'values'")
        return self


class TokenPublic(Strict):
    token: str
    masked: str | None = Field(description="The value's last four, the rest masked")
    kind: Kind
    style: TokenStyle
    scope: str | None
    key_version: int
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


class TokenizeOut(Strict):
    tokens: list[TokenPublic]


class DetokenizeIn(Strict):
    tokens: list[TokenText] = Field(min_length=1, max_length=MAX_VALUES)
    purpose: Purpose = Field(description="Why the values are needed, such as dispute")
    scope: Scope | None = Field(
        default=None, description="The merchant, device or channel the tokens are used in"
    )


class DetokenizedPublic(Strict):
    token: str
    value: str


class DetokenizeOut(Strict):
    values: list[DetokenizedPublic]


class TokenMetadataPublic(Strict):
    token: str
    kind: Kind
    style: TokenStyle
    scope: str | None
    key_version: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    subject: str | None
    shredded: bool


class ShredIn(Strict):
    subject: Identifier


class ShredOut(Strict):
    subject: str
    tokens: int
    key_versions: int
