"""The fault suite reuses the integration fixtures (the real stack, fresh topics)."""

from tests.integration.conftest import stack, topics  # noqa: F401
