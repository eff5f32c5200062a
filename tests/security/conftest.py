"""A separate local stack for the security tests, started once for the module and torn down.

``deploy/local/stack.sh`` runs on its own ports and state dir under pytest's tmp, so the main
stack (and anyone else's) is left alone. Its broker has the optional SASL_SSL listener
(SCRAM-SHA-512, TLS from a CA this fixture makes with openssl) besides PLAINTEXT, and its
registry requires HTTP basic auth. The tests' own clients (admin, producer, reader) use
PLAINTEXT and a registry URL with credentials in it; the service gets SASL_SSL and the
registry credentials through its ``SELFTAUGHT_*`` variables only.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import topics  # noqa: F401  (fresh topics on this stack)
from tests.integration.harness import ROOT, Stack, free_port

STACK_SH = ROOT / "deploy/local/stack.sh"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class SecureStack:
    plaintext: str  # bootstrap for the tests' own clients
    sasl_ssl: str  # bootstrap for the service
    ca: Path  # the CA that signed the broker's certificate
    kafka_user: str
    kafka_password: str
    registry: str  # the ccompat URL, without credentials
    registry_user: str
    registry_password: str
    tester_user: str  # the registry user the tests' own clients log in as
    tester_password: str
    state_dir: Path

    def service_env(self) -> dict[str, str]:
        """The service's settings for this stack: SASL_SSL and registry auth, by env only."""
        return {
            "SELFTAUGHT_BOOTSTRAP_SERVERS": self.sasl_ssl,
            "SELFTAUGHT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "SELFTAUGHT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "SELFTAUGHT_KAFKA_SASL_USERNAME": self.kafka_user,
            "SELFTAUGHT_KAFKA_SASL_PASSWORD": self.kafka_password,
            "SELFTAUGHT_KAFKA_SSL_CA_LOCATION": str(self.ca),
            "SELFTAUGHT_SCHEMA_REGISTRY_URL": self.registry,
            "SELFTAUGHT_SCHEMA_REGISTRY_USER": self.registry_user,
            "SELFTAUGHT_SCHEMA_REGISTRY_PASSWORD": self.registry_password,
        }


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_broker_tls(d: Path) -> Path:
    """A throw-away CA and a broker certificate for 127.0.0.1; returns the CA file.

    ``broker.pem`` is what stack.sh's KAFKA_SSL_DIR wants: the unencrypted PKCS#8 key, then
    the certificate (Kafka's PEM keystore).
    """
    d.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=selftaught test CA",
        cwd=d,
    )  # fmt: skip
    _openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "broker.key",
        cwd=d,
    )  # fmt: skip
    _openssl(
        "req", "-new", "-key", "broker.key", "-subj", "/CN=127.0.0.1", "-out", "broker.csr", cwd=d
    )
    # librdkafka verifies the broker's name (ssl.endpoint.identification.algorithm=https by
    # default): the certificate must name the IP clients dial.
    (d / "broker.ext").write_text(
        "subjectAltName=IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "broker.ext", "-out", "broker.crt",
        cwd=d,
    )  # fmt: skip
    (d / "broker.pem").write_text((d / "broker.key").read_text() + (d / "broker.crt").read_text())
    (d / "broker.pem").chmod(0o600)
    return d / "ca.crt"


def _distinct_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureStack]:
    base = tmp_path_factory.mktemp("secure-stack")
    ca = make_broker_tls(base / "tls")
    kafka_port, controller_port, sasl_port, registry_port, management_port = _distinct_ports(5)
    # URL-safe passwords: the stack script refuses quotes, spaces, =, [ and ].
    kafka_password = secrets.token_urlsafe(18)
    registry_password = secrets.token_urlsafe(18)
    tester_password = secrets.token_urlsafe(18)
    env = {
        **os.environ,
        "SELFTAUGHT_STACK_DIR": str(base / "state"),
        "KAFKA_PORT": str(kafka_port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_SASL_SSL_PORT": str(sasl_port),
        "KAFKA_SSL_DIR": str(base / "tls"),
        "KAFKA_SCRAM_USERS": f"selftaught:{kafka_password}",
        "REGISTRY_PORT": str(registry_port),
        "REGISTRY_MANAGEMENT_PORT": str(management_port),
        "REGISTRY_STORAGE": "mem",
        "REGISTRY_BASIC_AUTH_USERS": f"tester:{tester_password},calibrator:{registry_password}",
        "KAFKA_EXTRA_OPTS": "",
        "REGISTRY_EXTRA_OPTS": "",
    }
    try:
        subprocess.run(["bash", str(STACK_SH), "up"], env=env, check=True, timeout=300)
        yield SecureStack(
            plaintext=f"{HOST}:{kafka_port}",
            sasl_ssl=f"{HOST}:{sasl_port}",
            ca=ca,
            kafka_user="selftaught",
            kafka_password=kafka_password,
            registry=f"http://{HOST}:{registry_port}/apis/ccompat/v7",
            registry_user="calibrator",
            registry_password=registry_password,
            tester_user="tester",
            tester_password=tester_password,
            state_dir=base / "state",
        )
    finally:
        subprocess.run(["bash", str(STACK_SH), "down"], env=env, check=False, timeout=120)


@pytest.fixture(scope="module")
def stack(secure_stack: SecureStack) -> Stack:
    """The harness's view of the secure stack: PLAINTEXT, and a registry URL with userinfo."""
    s = secure_stack
    registry = s.registry.replace("http://", f"http://{s.tester_user}:{s.tester_password}@", 1)
    return Stack(bootstrap=s.plaintext, registry=registry)
