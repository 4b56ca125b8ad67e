"""Wire shapes of `/v1/privacy/recognizers`: a tenant's own Data Shield recognizers as a YAML
document in (`shield.custom` describes it), the built-in recognizers and the tenant's set
out. The shield validates the document itself (`shield.stored.check_recognizers`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from payguard.wire.schemas import Strict

#: The largest document, in bytes of UTF-8 (`shield.custom.MAX_SOURCE_BYTES`; a test checks
#: the two agree). The app's request body limit applies first.
MAX_YAML_BYTES = 64 * 1024


def _yaml(value: str) -> str:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("yaml must be valid Unicode text (no lone surrogates)") from None
    if size > MAX_YAML_BYTES:
        raise ValueError(f"yaml is at most {MAX_YAML_BYTES} bytes of UTF-8")
    return value


class RecognizersIn(Strict):
    """The tenant's recognizers, replacing the set in force (a new version)."""

    yaml: Annotated[str, Field(min_length=1, max_length=MAX_YAML_BYTES), AfterValidator(_yaml)] = (
        Field(
            description="The YAML document: `recognizers: [{name, entity, patterns, context, "
            "validator, threshold}, ...]`; `recognizers: []` for none"
        )
    )


class BuiltinRecognizerPublic(Strict):
    name: str
    entities: list[str]


class CustomRecognizerPublic(Strict):
    name: str
    entity: str


class RecognizerSetPublic(Strict):
    version: int = Field(description="0: the tenant never stored recognizers")
    created_at: datetime | None
    created_by: str | None
    yaml: str | None = Field(description="The YAML document as stored; null for version 0")
    recognizers: list[CustomRecognizerPublic]


class RecognizersPublic(Strict):
    builtin: list[BuiltinRecognizerPublic]
    custom: RecognizerSetPublic
