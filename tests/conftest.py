"""For every test: opening a file outside the repository fails it (see tests/guard.py)."""

from tests.guard import nothing_outside_the_repository  # noqa: F401
