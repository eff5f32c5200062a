"""The schema registry's client: writer schemas by id, registration and compatibility, and
what its errors mean to the service (an outage to wait out, refused credentials to exit on,
an unknown id to dead-letter). The only module of the wire that touches the network."""

from __future__ import annotations

from typing import Any, Final

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer.errors import CredentialsRefused, DecodeError, RegistryUnavailable
from consumer.settings import Settings

__all__ = ["RegistryClient", "registry_client"]


class RegistryClient:
    """A Confluent-compatible registry, through confluent-kafka's client (which caches)."""

    def __init__(self, *, url: str, user: str | None = None, password: str | None = None) -> None:
        """
        :param url: the registry's Confluent-compatible API (Apicurio's ``/apis/ccompat/v7``)
        :param user: for basic auth; None: no auth
        :param password: basic auth's password
        """
        conf: dict[str, Any] = {"url": url}
        if user is not None:
            conf["basic.auth.user.info"] = f"{user}:{password or ''}"
        self._client = SchemaRegistryClient(conf)

    def schema_text(self, schema_id: int) -> str:
        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise DecodeError(
                    reason="unknown_schema_id",
                    message=f"the registry does not know schema id {schema_id}",
                ) from exc
            raise _unavailable(exc) from exc
        except Exception as exc:
            raise _unavailable(exc) from exc
        if schema.schema_type not in (None, "AVRO"):
            raise DecodeError(
                reason="not_avro",
                message=f"schema id {schema_id} is {schema.schema_type}, not AVRO",
            )
        return str(schema.schema_str)

    def register(self, subject: str, schema_text: str, compatibility: str | None = None) -> int:
        """Register the schema under ``subject`` (idempotent); with ``compatibility``, set the
        subject's compatibility level first, so the registry holds every later version to
        it (``FULL``: a reader of either version reads records of either)."""
        try:
            if compatibility is not None:
                self._client.set_compatibility(subject, compatibility)
            return int(self._client.register_schema(subject, Schema(schema_text, "AVRO")))
        except Exception as exc:
            raise _unavailable(exc) from exc

    def compatibility(self, subject: str) -> str:
        try:
            return str(self._client.get_compatibility(subject))
        except Exception as exc:
            raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> Exception:
    """Translate what the registry client raised; re-raise anything that is not transport."""
    if isinstance(exc, SchemaRegistryError):
        if exc.http_status_code in (401, 403):
            # Not an outage: every record would wait for ever. Exit with one clear line.
            return CredentialsRefused(
                f"the schema registry refused our credentials ({exc.http_status_code})"
            )
        return RegistryUnavailable(f"registry error {exc.http_status_code}: {exc}")
    # Connection refused and friends: OSError, or the client's HTTP library's transport
    # errors (httpx, or httpx2 in newer releases), which do not derive from OSError.
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES:
        return RegistryUnavailable(f"registry unreachable: {exc}")
    raise exc


_TRANSPORT_MODULES: Final = frozenset(
    {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"}
)


def registry_client(s: Settings) -> RegistryClient:
    """A client of the registry the settings name, with their basic auth if any."""
    password = s.schema_registry_password.get_secret_value() if s.schema_registry_password else None
    return RegistryClient(url=s.schema_registry_url, user=s.schema_registry_user, password=password)
