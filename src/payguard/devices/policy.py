"""The device-health policy: YAML signals with CEL conditions over the posture facts.

Each signal that fires costs the device its `weight` out of 100 and tells the user, in plain
words, what is wrong and what to do. Conditions read the facts of
`payguard.devices.posture.FACTS` and are compiled once; explanations and remedies may quote
a few facts through `{placeholders}` (see `PLACEHOLDERS`), checked when the policy compiles.

    thresholds: {at_risk_below: 70, compromised_below: 40}
    signals:
      - id: screen_lock_off
        when: screen_lock_off
        weight: 35
        reason: DEVICE_NO_SCREEN_LOCK
        explanation: "Turn on screen lock: anyone holding this phone can open your apps."
        remedy: Set a PIN, pattern or fingerprint in Settings.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

import cel
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from payguard.core.conditions import compile_condition, probe_context
from payguard.core.errors import ValidationFailed, field_path
from payguard.core.policyfile import load_mapping
from payguard.devices.interfaces import Health, HealthSignal, HealthStatus
from payguard.devices.posture import FACTS

__all__ = [
    "MAX_SIGNALS",
    "MAX_SOURCE_BYTES",
    "PLACEHOLDERS",
    "HealthPolicy",
    "HealthPolicySpec",
    "HealthThresholds",
    "SignalSpec",
    "default_policy",
    "default_source",
]

MAX_SOURCE_BYTES = 128 * 1024
MAX_SIGNALS = 200

_ID = r"^[a-z][a-z0-9_]{0,63}$"
_REASON = r"^[A-Z][A-Z0-9_]{0,63}$"


def _age(name: str, *, months: bool = False) -> Callable[[Mapping[str, Any]], str]:
    def render(facts: Mapping[str, Any]) -> str:
        days = facts.get(name, -1)
        if not isinstance(days, int) or days < 0:
            return "unknown"
        return str((days * 12 + 182) // 365 if months else days)  # months, rounded

    return render


def _os_name(facts: Mapping[str, Any]) -> str:
    return {"android": "Android", "ios": "iOS"}.get(str(facts.get("platform")), "your system")


def _number(name: str) -> Callable[[Mapping[str, Any]], str]:
    def render(facts: Mapping[str, Any]) -> str:
        value = facts.get(name, -1)
        return str(value) if isinstance(value, int) and value >= 0 else "unknown"

    return render


#: The placeholders explanations and remedies may use, and how each renders from the facts
#: ("unknown" when the fact is).
PLACEHOLDERS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "patch_age_days": _age("patch_age_days"),
    "patch_age_months": _age("patch_age_days", months=True),
    "protection_age_days": _age("protection_age_days"),
    "os_name": _os_name,
    "os_major": _number("os_major"),
    "accounts_30d": _number("accounts_30d"),
    "community_confidence": _number("community_confidence"),
}


def _placeholders(text: str) -> set[str]:
    """The placeholder names in `text`; ValueError for an unknown or malformed one."""
    names = set()
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"malformed placeholder: {exc} (write {{{{ for a literal brace)") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join(sorted(PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{name}}}; known: {known}")
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} takes no format or conversion")
        names.add(name)
    return names


class SignalSpec(BaseModel):
    """One signal as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=_ID)]
    when: Annotated[str, Field(min_length=1, max_length=4096)]
    weight: Annotated[int, Field(ge=0, le=100)]
    reason: Annotated[str, Field(pattern=_REASON)]
    explanation: Annotated[str, Field(min_length=1, max_length=300)]
    remedy: Annotated[str, Field(min_length=1, max_length=300)]
    compromised: bool = False

    @field_validator("explanation", "remedy")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        _placeholders(value)
        return value


class HealthThresholds(BaseModel):
    """Scores below which a device is at risk / compromised."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at_risk_below: Annotated[int, Field(ge=0, le=101)] = 70
    compromised_below: Annotated[int, Field(ge=0, le=101)] = 40

    @model_validator(mode="after")
    def _ordered(self) -> HealthThresholds:
        if self.compromised_below > self.at_risk_below:
            raise ValueError("thresholds must satisfy compromised_below <= at_risk_below")
        return self


class HealthPolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Annotated[str, Field(max_length=2000)] = ""
    thresholds: HealthThresholds = HealthThresholds()
    signals: Annotated[list[SignalSpec], Field(max_length=MAX_SIGNALS)]


@dataclass(frozen=True, slots=True)
class CompiledSignal:
    spec: SignalSpec
    program: Any  # cel.Program
    templated: bool


def _parse(source: str) -> HealthPolicySpec:
    document = load_mapping(
        source, name="health policy", field="signals", max_bytes=MAX_SOURCE_BYTES
    )
    try:
        spec = HealthPolicySpec.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(first["msg"], field=field_path(first["loc"]) or "signals") from None
    seen: set[str] = set()
    for index, signal in enumerate(spec.signals):
        if signal.id in seen:
            raise ValidationFailed(
                f"duplicate signal id {signal.id!r}", field=f"signals[{index}].id"
            )
        seen.add(signal.id)
    return spec


def _compile(index: int, signal: SignalSpec, probe: Any) -> CompiledSignal:
    program = compile_condition(
        signal.when, probe=probe, field=f"signals[{index}].when", noun="fact"
    )
    # Any brace means format(): placeholders to fill or `{{` escapes to undo.
    templated = any(brace in text for text in (signal.explanation, signal.remedy) for brace in "{}")
    return CompiledSignal(spec=signal, program=program, templated=templated)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """A compiled, immutable device-health policy."""

    source: str
    thresholds: HealthThresholds
    signals: tuple[CompiledSignal, ...]

    @classmethod
    def compile(cls, source: str) -> HealthPolicy:
        """Parse, validate and compile `source`; errors name the field at fault
        (`signals[3].when`). Every condition must compile and yield a bool on the neutral
        facts."""
        spec = _parse(source)
        probe = probe_context(FACTS)
        compiled = tuple(_compile(i, signal, probe) for i, signal in enumerate(spec.signals))
        return cls(source=source, thresholds=spec.thresholds, signals=compiled)

    def evaluate(self, facts: Mapping[str, Any]) -> Health:
        """Judge a device from its facts (`payguard.devices.posture.facts`).

        The score is 100 less the weights of the signals that fire, clamped to 0-100. A
        device that neither reported nor attested and is on no community list is UNKNOWN; a
        signal marked `compromised` or a score under `compromised_below` makes it
        COMPROMISED; a score under `at_risk_below`, AT_RISK. A condition that fails at run
        time (an odd value) counts as not firing.
        """

        def resolve(name: str) -> Any:
            value = facts.get(name)
            return FACTS.get(name) if value is None else value

        context = cel.Context()
        context.set_variable_resolver(resolve)
        hits: list[CompiledSignal] = []
        for signal in self.signals:
            try:
                if signal.program.execute(context) is True:
                    hits.append(signal)
            except Exception:  # noqa: S112 - a failing signal must not fail the judgement
                continue
        hits.sort(key=lambda hit: -hit.spec.weight)

        values: dict[str, str] = {}
        if any(hit.templated for hit in hits):
            values = {name: render(facts) for name, render in PLACEHOLDERS.items()}
        signals = tuple(
            HealthSignal(
                id=hit.spec.id,
                reason=hit.spec.reason,
                weight=hit.spec.weight,
                explanation=hit.spec.explanation.format_map(values)
                if hit.templated
                else hit.spec.explanation,
                remedy=hit.spec.remedy.format_map(values) if hit.templated else hit.spec.remedy,
                compromised=hit.spec.compromised,
            )
            for hit in hits
        )

        score = min(max(100 - sum(hit.spec.weight for hit in hits), 0), 100)
        if not (
            facts.get("reported") is True
            or facts.get("attested") is True
            or facts.get("community_hit") is True
        ):
            status = HealthStatus.UNKNOWN
        elif any(hit.spec.compromised for hit in hits) or score < self.thresholds.compromised_below:
            status = HealthStatus.COMPROMISED
        elif score < self.thresholds.at_risk_below:
            status = HealthStatus.AT_RISK
        else:
            status = HealthStatus.HEALTHY
        assurance = facts.get("assurance")
        return Health(
            score=score,
            status=status,
            signals=signals,
            assurance=assurance if isinstance(assurance, str) and assurance else "low",
        )


def default_source() -> str:
    """The YAML of the health policy shipped with payguard."""
    return resources.files("payguard.devices").joinpath("health.yaml").read_text("utf-8")


@functools.cache
def default_policy() -> HealthPolicy:
    """The compiled policy shipped with payguard (compiled once per process)."""
    return HealthPolicy.compile(default_source())
