"""CEL conditions as rule sets and health policies write them: compiled once, checked
against neutral values so that a typo or a non-boolean condition is refused when the
policy is stored, with the field at fault named."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import cel

from payguard.core.errors import ValidationFailed

_UNKNOWN = re.compile(r"'([^']+)'")


def probe_context(neutral: Mapping[str, Any]) -> Any:
    """A CEL context resolving every known name to its neutral value."""
    context = cel.Context()
    context.set_variable_resolver(neutral.get)
    return context


def compile_condition(expression: str, *, probe: Any, field: str, noun: str) -> Any:
    """The compiled program of a boolean CEL `expression`; `ValidationFailed` naming `field`
    when it does not compile, names an unknown `noun` ("feature", "fact"), fails on the
    neutral values in `probe`, or is not a boolean."""
    try:
        program = cel.compile(expression)
    except (ValueError, RuntimeError) as exc:
        message = str(exc).splitlines()[0]
        raise ValidationFailed(f"CEL does not compile: {message}", field=field) from None
    try:
        result = program.execute(probe)
    except Exception as exc:
        unknown = _UNKNOWN.search(str(exc)) if "Undefined variable" in str(exc) else None
        if unknown is not None:
            raise ValidationFailed(f"unknown {noun} {unknown.group(1)!r}", field=field) from None
        message = str(exc).split(". ")[0]
        raise ValidationFailed(
            f"condition fails on neutral {noun}s: {message}", field=field
        ) from None
    if not isinstance(result, bool):
        raise ValidationFailed("condition must evaluate to true or false", field=field)
    return program
