"""The package stays typed (mypy strict) and lint-clean (ruff): checked with every test run."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_strict_on_the_package() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff() -> None:
    paths = [p for p in ("consumer", "tests", "bench", "testkit") if (ROOT / p).is_dir()]
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _constructors(tree: ast.Module) -> list[tuple[ast.ClassDef, ast.FunctionDef]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    found.append((node, item))
    return found


def test_constructors_are_keyword_only_and_document_each_parameter() -> None:
    # A constructor with several parameters of one type (two topics, two limits) is easy to
    # call in the wrong order; keywords make every call say what it passes. Each parameter
    # is documented as ``:param name:`` in the constructor's docstring or its class's.
    problems = []
    for path in sorted((ROOT / "consumer").rglob("*.py")):
        for cls, init in _constructors(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{init.lineno} {cls.name}"
            positional = [a.arg for a in init.args.posonlyargs + init.args.args][1:]
            if positional or init.args.vararg:
                problems.append(f"{where}: positional {positional}")
            docs = f"{ast.get_docstring(cls) or ''}\n{ast.get_docstring(init) or ''}"
            missing = [a.arg for a in init.args.kwonlyargs if f":param {a.arg}:" not in docs]
            if missing:
                problems.append(f"{where}: undocumented {missing}")
    assert not problems, "\n".join(problems)
