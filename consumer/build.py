"""Which hot-path modules this install runs compiled (mypyc) rather than as Python.

The image compiles them (pyproject.toml's mypyc build hook); ``pip install .`` and a checkout
run them as Python. Both behave the same, compiled they take about a third less CPU per event
(bench/README.md), so an instance that is slower than its neighbours can be told apart: the
service logs this at start and exports it as ``selftaught_build_info``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import platform
from importlib import metadata

# The same list as the build hook's `include` in pyproject.toml (tests/unit/test_build.py).
HOT_MODULES = (
    "consumer.wire.avro",
    "consumer.stages.cards",
    "consumer.stages.excerpts",
    "consumer.wire.codec",
    "consumer.events",
    "consumer.outcomes",
    "consumer.pipeline",
    "consumer.places",
    "consumer.stages.qualify",
    "consumer.stages.validate",
    "consumer.generate.rules",
    "consumer.redact.patterns",
    "consumer.redact.safe",
    "consumer.redact.scan",
    "consumer.redact.text",
    "consumer.redact.words",
)


def is_compiled(module_name: str) -> bool:
    """Whether the module was loaded from an extension module (a .so) rather than a .py."""
    module = importlib.import_module(module_name)
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)


def compiled_modules() -> tuple[str, ...]:
    return tuple(name for name in HOT_MODULES if is_compiled(name))


def info() -> dict[str, str]:
    """Labels for ``selftaught_build_info``: version, Python, compiled hot modules (n/total)."""
    try:
        version = metadata.version("selftaught-consumer")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        version = "unknown"
    return {
        "version": version,
        "python": platform.python_version(),
        "compiled": f"{len(compiled_modules())}/{len(HOT_MODULES)}",
    }
