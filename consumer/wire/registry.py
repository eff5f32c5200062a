"""The schema registry's client as the settings describe it (URL, basic auth)."""

from __future__ import annotations

from consumer.settings import Settings
from consumer.wire.codec import RegistryClient

__all__ = ["registry_client"]


def registry_client(s: Settings) -> RegistryClient:
    """A client of the registry the settings name, with their basic auth if any."""
    password = s.schema_registry_password.get_secret_value() if s.schema_registry_password else None
    return RegistryClient(url=s.schema_registry_url, user=s.schema_registry_user, password=password)
