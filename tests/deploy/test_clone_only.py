"""The test command needs nothing beside the clone: tests/guard.py fails a test that opens a file
outside the repository. Shown here on a throwaway test run by pytest in a child process, with
the guard told that a temp folder is the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy import ROOT

SKIP = {"build", "dist", "__pycache__", "node_modules"}

TEST = """
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_reads_its_own_files():
    assert (HERE / "inside.json").read_text() == "{}"


def test_reads_beside_the_clone():
    assert (HERE.parent / "beside" / "schema.json").read_text() == "{}"
"""


def run_guarded(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.guard", "-p", "no:cacheprovider",
         "-q", "--rootdir", str(repo), str(repo / "test_outside.py")],
        cwd=ROOT,
        env={**os.environ, "SELFTAUGHT_GUARD_ROOT": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_a_test_that_reads_beside_the_clone_fails(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    repo.mkdir()
    (repo / "test_outside.py").write_text(TEST)
    (repo / "inside.json").write_text("{}")
    (tmp_path / "beside").mkdir()
    (tmp_path / "beside" / "schema.json").write_text("{}")

    proc = run_guarded(repo)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    # Both tests pass as written; the one that read beside the clone then errors, naming the file.
    assert "2 passed, 1 error" in out, out
    assert "ERROR at teardown of test_reads_beside_the_clone" in out
    assert "ERROR at teardown of test_reads_its_own_files" not in out
    outside = tmp_path / "beside" / "schema.json"
    assert f"opened outside the repository (a fresh clone has none of it): {outside}" in out


def test_the_chart_schemas_are_in_the_repository() -> None:
    from tests.deploy import K8S_SCHEMAS

    assert K8S_SCHEMAS.is_relative_to(ROOT)
    assert (K8S_SCHEMAS / "LICENSE").is_file()
    assert len(list(K8S_SCHEMAS.glob("*/*.json"))) == 5


def test_every_document_the_code_and_docs_point_to_is_in_the_repository() -> None:
    """A Markdown path with a folder, cited in the code, scripts or docs, is in the clone (beside the
    citing file or from the top); a URL's pages are somebody else's."""
    cited = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)+[\w.-]+\.md)\b")
    missing = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP]
        for name in files:
            path = Path(folder, name)
            if path.suffix not in (".py", ".md", ".sh", ".yaml", ".toml"):
                continue
            for doc in cited.findall(path.read_text(errors="replace")):
                if not ((ROOT / doc).is_file() or (path.parent / doc).is_file()):
                    missing.append(f"{path.relative_to(ROOT)} cites {doc}")
    assert missing == []
