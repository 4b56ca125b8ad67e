"""The import rules between payguard's rooms (tests/architecture/rooms.toml), checked by
walking every module's `import` statements, including those inside functions and under
`TYPE_CHECKING`."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
RULES: dict[str, Any] = tomllib.loads((Path(__file__).parent / "rooms.toml").read_text())


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. payguard.risk.service
    target: str  # the imported module, e.g. payguard.core.errors
    line: int

    @property
    def room(self) -> str:
        return room_of(self.module)

    @property
    def target_room(self) -> str:
        return room_of(self.target)

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from payguard.auth import devicekeys` imports the module payguard.auth.devicekeys
                candidate = f"{base}.{alias.name}"
                target = candidate if _is_module(candidate) else base
                yield Import(module, target, node.lineno)


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


ALL = [
    found
    for path in sorted((SRC / "payguard").rglob("*.py"))
    for found in imports_of(path)
    if found.target.startswith("payguard.") and found.target_room != found.room
]


def _excepted(found: Import) -> bool:
    inside = found.target.removeprefix("payguard.")
    for exception in RULES["exception"]:
        if found.room == exception["importer"] and (
            inside == exception["imported"] or inside.startswith(exception["imported"] + ".")
        ):
            return True
    return False


def _violations(check: Any, imports: list[Import] = ALL) -> list[str]:
    return [str(found) for found in imports if check(found) and not _excepted(found)]


def test_the_walk_sees_the_code() -> None:
    """A broken walk would pass every rule: it must find the root wiring the adapters."""
    assert any(f.room == "services" and f.target_room == "adapters" for f in ALL)
    assert any(f.room == "risk" and f.target_room == "core" for f in ALL)


def test_the_rules_catch_what_they_forbid() -> None:
    """The checks themselves fail on the imports they exist to refuse."""
    planted = [
        Import("payguard.risk.service", "payguard.adapters.sql.engine", 1),
        Import("payguard.devices.service", "payguard.auth.devicekeys", 2),
        Import("payguard.devices.service", "payguard.auth.interfaces", 3),
        Import("payguard.ml.train", "payguard.risk.engine", 4),
    ]
    adapters = RULES["adapters"]
    assert _violations(lambda f: f.target_room == adapters and f.room != "services", planted) == [
        "payguard.risk.service:1 imports payguard.adapters.sql.engine"
    ]
    assert _violations(
        lambda f: f.target != f"payguard.{f.target_room}.interfaces", planted[1:]
    ) == ["payguard.devices.service:2 imports payguard.auth.devicekeys"]


def test_core_imports_nothing_of_payguard_outside_core() -> None:
    assert _violations(lambda f: f.room == RULES["core"]) == []


@pytest.mark.parametrize("room", RULES["capabilities"])
def test_a_capability_never_reaches_the_edges_adapters_root_or_settings(room: str) -> None:
    forbidden = set(RULES["forbidden_for_capabilities"])
    assert _violations(lambda f: f.room == room and f.target_room in forbidden) == []


@pytest.mark.parametrize("room", RULES["capabilities"])
def test_a_capability_uses_another_only_through_its_interfaces(room: str) -> None:
    capabilities = set(RULES["capabilities"])

    def crosses(found: Import) -> bool:
        if found.room != room or found.target_room not in capabilities:
            return False
        return found.target != f"payguard.{found.target_room}.interfaces"

    assert _violations(crosses) == []


def test_the_wire_schema_is_neutral() -> None:
    forbidden = set(RULES["forbidden_for_capabilities"])
    capabilities = set(RULES["capabilities"])

    def leaks(found: Import) -> bool:
        if found.room != RULES["wire"]:
            return False
        if found.target_room in forbidden:
            return True
        return (
            found.target_room in capabilities
            and found.target != f"payguard.{found.target_room}.interfaces"
        )

    assert _violations(leaks) == []


def test_only_the_root_imports_adapters() -> None:
    allowed = set(RULES["adapter_importers"])
    assert _violations(lambda f: f.target_room == RULES["adapters"] and f.room not in allowed) == []


def test_adapters_implement_ports_without_the_edges_or_the_root() -> None:
    forbidden = {*RULES["edges"], RULES["root"]}
    assert _violations(lambda f: f.room == RULES["adapters"] and f.target_room in forbidden) == []


def test_the_root_is_not_the_web_layer() -> None:
    assert _violations(lambda f: f.room == RULES["root"] and f.target_room in RULES["edges"]) == []


def test_edges_use_each_other_only_for_the_web_server() -> None:
    edges = set(RULES["edges"])
    allowed: dict[str, list[str]] = RULES["edge_allowed"]

    def crosses(found: Import) -> bool:
        return (
            found.room in edges
            and found.target_room in edges
            and found.target not in allowed.get(found.room, [])
        )

    assert _violations(crosses) == []


def test_no_module_sits_in_an_undeclared_room() -> None:
    """A new top-level package must be given its rules here before it can land."""
    declared = {
        RULES["core"],
        RULES["adapters"],
        RULES["root"],
        RULES["wire"],
        *RULES["capabilities"],
        *RULES["edges"],
        "settings",
        "runtime",
        "logconfig",
        "",
    }
    rooms = {room_of(module_name(p)) for p in (SRC / "payguard").rglob("*.py")}
    assert rooms - declared == set()


def test_every_exception_is_still_needed() -> None:
    for exception in RULES["exception"]:
        assert exception["why"].strip()
        used = any(
            f.room == exception["importer"]
            and (
                f.target.removeprefix("payguard.") == exception["imported"]
                or f.target.removeprefix("payguard.").startswith(exception["imported"] + ".")
            )
            for f in ALL
        )
        assert used, f"exception {exception['importer']} -> {exception['imported']} is unused"


def test_routes_take_narrow_services_not_the_container() -> None:
    """A route receives the one service it calls (`api/deps.py`), never `Services` or the
    app state that holds it."""
    routes = SRC / "payguard" / "api" / "routes"
    leaks = [
        f"{path.name}:{number}"
        for path in sorted(routes.glob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if "app.state" in line or "Services" in line or "services_of" in line
    ]
    assert leaks == []


def test_every_bus_subject_is_declared_in_core() -> None:
    """Capabilities publish only subjects named in `payguard.core.bus`."""
    import payguard.core.bus as bus

    declared = {name for name in dir(bus) if name.isupper() and isinstance(getattr(bus, name), str)}
    published: list[str] = []
    for path in sorted((SRC / "payguard").rglob("*.py")):
        if room_of(module_name(path)) == RULES["adapters"]:
            continue  # adapters carry subjects, they do not choose them
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "publish"
                and node.args
            ):
                subject = node.args[0]
                name = subject.id if isinstance(subject, ast.Name) else ast.dump(subject)
                published.append(f"{module_name(path)}:{node.lineno}:{name}")
    assert len(published) >= 8
    assert [p for p in published if p.rpartition(":")[2] not in declared] == []
