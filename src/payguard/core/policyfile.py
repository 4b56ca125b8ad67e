"""Policy documents as operators write them: YAML text, of bounded size, holding one mapping.

Rule sets and device health policies read their source here, so both refuse an oversized,
malformed, hostile or non-mapping document the same way, naming the document and the list it
holds. The loader is `yaml.SafeLoader`, so a document cannot construct Python objects, with two
bounds checked while the document is composed, before anything is built from it:

- nesting: no node may sit deeper than `MAX_DEPTH` collections (`[[[[...]]]]` or deeply
  indented block style), counting what an alias stands for; the walk stops at the first node
  past the limit, so a nesting bomb is refused without being parsed to its end;
- expansion: the document, with every alias counted as the nodes it stands for, may hold at most
  `MAX_NODES` nodes, so an alias bomb ("billion laughs") is refused as it doubles, not after.
"""

from __future__ import annotations

from typing import Any

import yaml

from payguard.core.errors import PayloadTooLarge, ValidationFailed

__all__ = ["MAX_DEPTH", "MAX_NODES", "load_mapping"]

MAX_DEPTH = 32
MAX_NODES = 100_000


class _Refused(Exception):
    """The document breaks a bound; the message ends the sentence `<name> ...`."""


class _BoundedLoader(yaml.SafeLoader):
    """`SafeLoader` that measures each node as it is composed: its height (nesting, through
    aliases) and its weight (nodes, with aliases expanded), refusing past the bounds."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._measures: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"is nested more than {MAX_DEPTH} levels deep")
        if self.check_event(yaml.AliasEvent):
            event: yaml.AliasEvent = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._measures:
                raise _Refused("holds an alias inside the node it names")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._measure(node)
        return node

    def _measure(self, node: yaml.Node) -> None:
        known = self._measures.get(id(node))
        if known is not None:  # an alias: the anchored node, measured already
            if self._depth + known[0] > MAX_DEPTH:
                raise _Refused(f"is nested more than {MAX_DEPTH} levels deep")
            return
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        measured = [self._measures.get(id(child), (1, 1)) for child in children]
        height = 1 + max((h for h, _ in measured), default=0)
        weight = 1 + sum(w for _, w in measured)
        if weight > MAX_NODES:
            raise _Refused(f"expands to more than {MAX_NODES} nodes (through aliases)")
        self._measures[id(node)] = (height, weight)


def load_mapping(source: str, *, name: str, field: str, max_bytes: int) -> dict[Any, Any]:
    """The mapping the YAML document `source` holds, for a schema to validate next.

    `name` is what errors call the document ("rule set") and `field` the list it must hold,
    which errors name as the field at fault ("rules"). Raises `PayloadTooLarge` when `source`
    is over `max_bytes` in UTF-8, and `ValidationFailed` when it is not YAML, is nested deeper
    than `MAX_DEPTH`, expands through aliases past `MAX_NODES` nodes, or its top level is not a
    mapping.
    """
    if len(source.encode()) > max_bytes:
        raise PayloadTooLarge(f"{name} is larger than {max_bytes} bytes")
    try:
        loader = _BoundedLoader(source)  # the reader refuses unprintable characters here
        try:
            document = loader.get_single_data()
        finally:
            loader.dispose()
    except _Refused as exc:
        raise ValidationFailed(f"{name} {exc}", field=field) from None
    except RecursionError:  # a backstop: the depth bound refuses long before this
        raise ValidationFailed(f"{name} is nested too deeply", field=field) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{name} is not valid YAML: {exc}", field=field) from None
    if not isinstance(document, dict):
        raise ValidationFailed(f"{name} must be a YAML mapping with a `{field}` list", field=field)
    return document
