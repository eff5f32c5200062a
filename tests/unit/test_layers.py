"""The folders of consumer/ are layers: imports run one way, from the commands down.

Each package's docstring says what it may import; ``MAY_IMPORT`` is the same, read against
the code's own imports (``ast``, every import in a module, in functions too), so a change that
imports upward, sideways or round a circle fails here with the offending import named.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "consumer"

#: Each layer and the modules or packages it is made of.
LAYERS: dict[str, tuple[str, ...]] = {
    # The vocabulary beneath every layer: the typed domain, the exceptions, the settings.
    "vocabulary": (
        "consumer",
        "consumer.errors",
        "consumer.events",
        "consumer.settings",
        "consumer.settings_llm",
        "consumer.kafka_properties",
        "consumer.build",
    ),
    "wire": ("consumer.wire",),
    "stages": ("consumer.stages",),
    "redact": ("consumer.redact",),
    "observe": ("consumer.observe",),
    "selection": ("consumer.selection",),
    "generate": ("consumer.generate",),
    "judge": ("consumer.judge",),
    "eval": ("consumer.eval",),
    "pipeline": ("consumer.pipeline", "consumer.outcomes", "consumer.places"),
    "runner": ("consumer.runner",),
    "commands": ("consumer.commands",),
    "main": ("consumer.__main__",),
}

_PURE = {"vocabulary", "wire", "stages", "redact"}
#: What each layer may import besides itself.
MAY_IMPORT: dict[str, set[str]] = {
    "vocabulary": set(),
    "wire": {"vocabulary"},
    "stages": {"vocabulary"},
    "redact": {"vocabulary"},
    "observe": {"vocabulary", "redact"},
    "selection": _PURE | {"observe"},
    "generate": _PURE | {"observe"},
    "judge": _PURE | {"observe", "generate"},
    "eval": _PURE | {"observe", "generate"},
    "pipeline": _PURE | {"observe", "selection", "generate", "judge"},
    "runner": _PURE | {"observe", "selection", "generate", "judge", "pipeline"},
    "commands": set(LAYERS) - {"commands", "main"},
    "main": {"commands"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, source: str, known: Iterable[str], *, is_package: bool) -> set[str]:
    """The consumer modules a module's source imports (``from pkg import mod`` names mod)."""
    known = set(known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m == "consumer" or m.startswith("consumer.")}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {
        name: imports_of(name, path.read_text(), mods, is_package=path.name == "__init__.py")
        for name, path in mods.items()
    }


def layer_of(module: str) -> str | None:
    for layer, members in LAYERS.items():
        if any(module == m or module.startswith(m + ".") for m in members if m != "consumer"):
            return layer
    return "vocabulary" if module == "consumer" else None


def upward_imports(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Each import of a layer its importer may not import, as ``importer -> imported``."""
    wrong = []
    for src, targets in sorted(edges.items()):
        src_layer = layer_of(src)
        for dst in sorted(targets):
            dst_layer = layer_of(dst)
            if src_layer is None or dst_layer is None:
                continue  # reported by test_every_module_is_in_a_layer
            if dst_layer != src_layer and dst_layer not in MAY_IMPORT[src_layer]:
                wrong.append(f"{src} ({src_layer}) -> {dst} ({dst_layer})")
    return wrong


def circles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_is_in_a_layer() -> None:
    assert [m for m in modules() if layer_of(m) is None] == []


def test_each_layer_imports_only_the_layers_beneath_it() -> None:
    assert upward_imports(graph()) == []


def test_nothing_imports_the_commands_but_main() -> None:
    importers = {
        src
        for src, targets in graph().items()
        if layer_of(src) != "commands" and any(layer_of(t) == "commands" for t in targets)
    }
    assert importers == {"consumer.__main__"}


def test_no_modules_import_each_other_round_a_circle() -> None:
    assert circles(graph()) == []


def test_the_wire_and_the_stages_know_nothing_of_kafka_clients_or_metrics() -> None:
    for module, targets in graph().items():
        if layer_of(module) in ("wire", "stages"):
            assert {layer_of(t) for t in targets} <= {"vocabulary", layer_of(module)}, module


def test_the_checks_catch_what_they_are_for() -> None:
    # The checks above pass on the tree; these show they would not pass on a broken one.
    edges = {
        "consumer.wire.codec": {"consumer.runner.kafka"},
        "consumer.stages.cards": {"consumer.wire.avro"},
        "consumer.runner.kafka": {"consumer.events"},
    }
    assert upward_imports(edges) == [
        "consumer.stages.cards (stages) -> consumer.wire.avro (wire)",
        "consumer.wire.codec (wire) -> consumer.runner.kafka (runner)",
    ]
    loop = {
        "consumer.runner.loop": {"consumer.pipeline"},
        "consumer.pipeline": {"consumer.runner"},
        "consumer.runner": {"consumer.runner.loop"},
    }
    assert circles(loop) == [["consumer.pipeline", "consumer.runner", "consumer.runner.loop"]]
    source = (
        "from consumer.wire import schemas\nfrom . import errors\nimport consumer.stages.cards\n"
    )
    known = ["consumer.wire", "consumer.wire.schemas", "consumer.errors", "consumer.stages.cards"]
    assert imports_of("consumer.settings", source, known, is_package=False) == {
        "consumer.wire.schemas",
        "consumer.errors",
        "consumer.stages.cards",
    }
