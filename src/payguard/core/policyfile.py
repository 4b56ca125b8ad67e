"""Policy documents as operators write them: YAML text, of bounded size, holding one mapping.

Rule sets and device health policies read their source here, so both refuse an oversized,
malformed or non-mapping document the same way, naming the document and the list it holds.
`yaml.safe_load` builds only plain data, so a document cannot construct Python objects.
"""

from __future__ import annotations

from typing import Any

import yaml

from payguard.core.errors import PayloadTooLarge, ValidationFailed

__all__ = ["load_mapping"]


def load_mapping(source: str, *, name: str, field: str, max_bytes: int) -> dict[Any, Any]:
    """The mapping the YAML document `source` holds, for a schema to validate next.

    `name` is what errors call the document ("rule set") and `field` the list it must hold,
    which errors name as the field at fault ("rules"). Raises `PayloadTooLarge` when `source`
    is over `max_bytes` in UTF-8, and `ValidationFailed` when it is not YAML or its top level
    is not a mapping.
    """
    if len(source.encode()) > max_bytes:
        raise PayloadTooLarge(f"{name} is larger than {max_bytes} bytes")
    try:
        document = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{name} is not valid YAML: {exc}", field=field) from None
    if not isinstance(document, dict):
        raise ValidationFailed(f"{name} must be a YAML mapping with a `{field}` list", field=field)
    return document
