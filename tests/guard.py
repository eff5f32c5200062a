"""A test that reads a file outside the repository fails.

A fresh clone has nothing beside it: a test that reads a folder beside the clone (or anything
else a user does not have) passes on the machine it was written on and fails for everyone else. Python's
audit hooks see every ``open``, ``os.listdir`` and ``os.scandir`` of this process; after each
test, any such path outside the allowed places that exists fails the test, naming it. (A path
that does not exist is what a fresh clone sees: the test fails on its own there.)

Allowed outside the repository: the interpreter, its virtualenv and whatever is on
``sys.path``; the folders on ``PATH``; temporary directories (but not the repository's own siblings, which is where a
checkout's neighbours live); the download cache of deploy/local (``SELFTAUGHT_CACHE``) and the
user's cache folder (``~/.cache``), which tools fill on first use; and the
system's own files (``/usr``, ``/etc``, ``/proc``, ...). Files opened by child processes are not
seen: the scripts they run are checked by running them from a fresh clone.

``tests/conftest.py`` uses it for every test; ``pytest -p tests.guard`` loads it anywhere.
``SELFTAUGHT_GUARD_ROOT`` names another directory as the repository (the guard's own test).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = os.path.abspath(
    os.environ.get("SELFTAUGHT_GUARD_ROOT") or Path(__file__).resolve().parents[1]
)
SYSTEM = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/run")
EVENTS = frozenset({"open", "os.listdir", "os.scandir"})


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def _allowed_prefixes() -> tuple[str, ...]:
    places = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.environ.get("SELFTAUGHT_CACHE") or os.path.expanduser("~/.cache/selftaught"),
        # Per-user caches that tools fill on first use (matplotlib's font list, for one).
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        *(p for p in sys.path if p and os.path.isabs(p)),
        # Where the user's tools are (a test may look for one there).
        *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and os.path.isabs(p)),
        *SYSTEM,
    }
    return tuple(sorted(os.path.abspath(p) for p in places))


ALLOWED = _allowed_prefixes()
TEMP = os.path.abspath(tempfile.gettempdir())
# The repository's neighbours are refused even inside the temp dir, unless the clone sits
# directly in it (its neighbours are then every other temp file).
BESIDE = os.path.dirname(ROOT)
_seen: list[str] = []


def outside(path: str) -> bool:
    """The path (absolute) is outside the repository and every allowed place."""
    if _under(path, (ROOT,)):
        return False
    if _under(path, (BESIDE,)) and BESIDE not in ("/", TEMP):
        return True
    return not _under(path, (*ALLOWED, TEMP))


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event not in EVENTS or not args:
        return
    path = args[0]
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        return  # a file descriptor, or None for the current directory
    path = os.path.abspath(path)
    if outside(path):
        _seen.append(path)


sys.addaudithook(_hook)  # for the life of the process: audit hooks cannot be removed


def take() -> list[str]:
    """The outside paths opened since the last call that exist, each once."""
    found = sorted({p for p in _seen if os.path.exists(p)})
    _seen.clear()
    return found


@pytest.fixture(autouse=True)
def nothing_outside_the_repository() -> Iterator[None]:
    # What was opened before the test (collection, imports, an earlier test's threads) counts
    # against it too: better blamed on a neighbour than missed.
    yield
    found = take()
    if found:
        pytest.fail(
            "opened outside the repository (a fresh clone has none of it): " + ", ".join(found),
            pytrace=False,
        )
