"""The registry of recognizers a scanner runs: the built-in ones and a partner's own, each
under a unique name (a second recognizer of the same name is refused, not shadowed)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from payguard.core.errors import NotFound, ValidationFailed
from payguard.shield.custom import load_recognizers
from payguard.shield.interfaces import Recognizer
from payguard.shield.recognizers import builtin

__all__ = ["Registry"]


class Registry:
    """Recognizers by name, in the order they were added."""

    def __init__(self, recognizers: Iterable[Recognizer] = ()) -> None:
        self._recognizers: dict[str, Recognizer] = {}
        for recognizer in recognizers:
            self.add(recognizer)

    @classmethod
    def builtin(cls) -> Registry:
        """A registry of every built-in recognizer."""
        return cls(builtin())

    def add(self, recognizer: Recognizer) -> None:
        """Register `recognizer`; ValidationFailed on `name` if one of that name exists."""
        if recognizer.name in self._recognizers:
            raise ValidationFailed(
                f"a recognizer named {recognizer.name!r} is registered already", field="name"
            )
        self._recognizers[recognizer.name] = recognizer

    def remove(self, name: str) -> None:
        """Unregister the recognizer `name` (e.g. a built-in a partner replaces)."""
        if self._recognizers.pop(name, None) is None:
            raise NotFound(f"no recognizer named {name[:64]!r}")

    def load_yaml(self, source: str) -> list[str]:
        """Register the recognizers a YAML document defines (`shield.custom`); all or none.
        Returns their names."""
        loaded = load_recognizers(source)
        for index, recognizer in enumerate(loaded):
            if recognizer.name in self._recognizers:
                raise ValidationFailed(
                    f"a recognizer named {recognizer.name!r} is registered already",
                    field=f"recognizers[{index}].name",
                )
        for recognizer in loaded:
            self.add(recognizer)
        return [recognizer.name for recognizer in loaded]

    @property
    def names(self) -> list[str]:
        return list(self._recognizers)

    def __contains__(self, name: object) -> bool:
        return name in self._recognizers

    def __iter__(self) -> Iterator[Recognizer]:
        return iter(list(self._recognizers.values()))

    def __len__(self) -> int:
        return len(self._recognizers)
