"""The compiled hot path: the build hook's list, and what this install actually runs.

deploy/local/test.sh runs the unit and integration suites twice: on the checkout (pure Python)
and on a copy built as the image is built, with SELFTAUGHT_EXPECT_COMPILED=1. Each pass checks
that it runs what it says, so the compiled pass cannot quietly test Python, and a stale .so
in a checkout (which would shadow every edit of the .py beside it) fails here.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from consumer import build

ROOT = Path(__file__).resolve().parents[2]
HOOK = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
    "wheel"
]["hooks"]["mypyc"]
EXPECT_COMPILED = os.environ.get("SELFTAUGHT_EXPECT_COMPILED") == "1"


def test_the_build_hook_compiles_exactly_the_hot_modules() -> None:
    listed = {p.removesuffix(".py").replace("/", ".") for p in HOOK["include"]}
    assert listed == set(build.HOT_MODULES)
    for path in HOOK["include"]:
        assert (ROOT / path).is_file(), path


def test_the_hook_is_off_unless_asked_for() -> None:
    # `pip install .` and the editable install stay pure Python; the image opts in.
    assert HOOK["enable-by-default"] is False
    pins = [d for d in HOOK["dependencies"] if d.startswith("mypy")]
    assert pins and all("==" in d for d in pins), "mypyc's output is part of the build: pin it"


def test_this_install_runs_what_it_says() -> None:
    compiled = build.compiled_modules()
    if EXPECT_COMPILED:
        assert compiled == build.HOT_MODULES
    else:
        assert compiled == (), f"compiled modules shadow the .py files: {compiled}"
    n = len(build.HOT_MODULES)
    assert build.info()["compiled"] == f"{len(compiled)}/{n}"


def test_build_info_names_version_and_python() -> None:
    labels = build.info()
    assert set(labels) == {"version", "python", "compiled"}
    assert labels["version"] != "" and labels["python"].count(".") == 2
