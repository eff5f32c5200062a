import pytest

from consumer.errors import ConfigError
from consumer.settings import kafka_passthrough, load, resolve_instance_id


def test_defaults_are_the_contract_defaults() -> None:
    s = load({})
    assert (s.input_topic, s.output_topic, s.dlq_topic) == (
        "agent.trace-events",
        "agent.memory-cards",
        "agent.trace-events.dlq",
    )
    assert s.group_id == "selftaught-calibrator" and s.http_port == 9400
    assert (s.min_delta, s.phi_min, s.phi_max, s.sample_rate) == (0.5, 0, 10, 1.0)
    assert (s.min_contrast, s.trust_score) == (1.0, 0.7)
    assert s.backend == "rules"


def test_backend_auto_follows_the_api_key() -> None:
    assert load({"ANTHROPIC_API_KEY": "sk-test"}).backend == "anthropic"
    assert (
        load({"ANTHROPIC_API_KEY": "sk-test", "SELFTAUGHT_LLM_BACKEND": "rules"}).backend == "rules"
    )


def test_one_clear_line_per_mistake() -> None:
    with pytest.raises(ConfigError) as exc:
        load(
            {
                "SELFTAUGHT_MIN_DELTA": "lots",
                "SELFTAUGHT_SAMPLE_RATE": "1.5",
                "SELFTAUGHT_LLM_BACKEND": "gpt",
                "SELFTAUGHT_MIN_DELT": "1",
            }
        )
    lines = exc.value.lines
    assert len(lines) == 4
    assert any(line.startswith("SELFTAUGHT_MIN_DELTA:") and "'lots'" in line for line in lines)
    assert any(line.startswith("SELFTAUGHT_SAMPLE_RATE:") for line in lines)
    assert any(line.startswith("SELFTAUGHT_LLM_BACKEND:") for line in lines)
    assert any(line.startswith("SELFTAUGHT_MIN_DELT:") and "unknown" in line for line in lines)


def test_scale_must_be_a_range() -> None:
    with pytest.raises(ConfigError) as exc:
        load({"SELFTAUGHT_PHI_MIN": "5", "SELFTAUGHT_PHI_MAX": "5"})
    assert "PHI_MAX" in exc.value.lines[0]


def test_kafka_passthrough_and_owned_keys() -> None:
    env = {"SELFTAUGHT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SELFTAUGHT_KAFKA_SASL_PASSWORD": "pw"}
    assert kafka_passthrough(env) == {"security.protocol": "SASL_SSL", "sasl.password": "pw"}
    s = load(env)
    assert s.consumer_config()["security.protocol"] == "SASL_SSL"
    assert s.producer_config("pod-0")["sasl.password"] == "pw"
    assert s.masked()["kafka"]["sasl.password"] == "***"
    with pytest.raises(ConfigError) as exc:
        load({"SELFTAUGHT_KAFKA_ISOLATION_LEVEL": "read_uncommitted"})
    assert "isolation.level" in exc.value.lines[0]


def test_exactly_once_settings() -> None:
    s = load({})
    c, p = s.consumer_config(), s.producer_config("pod-3")
    assert c["isolation.level"] == "read_committed" and c["enable.auto.commit"] is False
    assert c["partition.assignment.strategy"] == "cooperative-sticky"
    assert p["transactional.id"] == "selftaught-calibrator-pod-3"


def test_secrets_are_masked() -> None:
    s = load(
        {"ANTHROPIC_API_KEY": "sk-secret-value", "SELFTAUGHT_SCHEMA_REGISTRY_PASSWORD": "hunter2"}
    )
    text = repr(s.masked()) + repr(s)
    assert "sk-secret-value" not in text and "hunter2" not in text


def test_instance_id_is_stable_when_named_and_unique_otherwise() -> None:
    s = load({"SELFTAUGHT_INSTANCE_ID": "calibrator-2"})
    assert resolve_instance_id(s, {})[0] == "calibrator-2"
    plain = load({})
    k8s = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "calibrator-0"}
    assert resolve_instance_id(plain, k8s)[0] == "calibrator-0"
    assert resolve_instance_id(plain, {})[0] != resolve_instance_id(plain, {})[0]


def test_each_client_gets_only_its_roles_kafka_properties() -> None:
    # librdkafka logs a CONFWARN at every start for the other role's properties (the Helm
    # chart's static membership set group.instance.id on the producer and admin too).
    import logging

    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient

    s = load(
        {
            "SELFTAUGHT_KAFKA_GROUP_INSTANCE_ID": "pod-0",
            "SELFTAUGHT_KAFKA_SESSION_TIMEOUT_MS": "30000",
            "SELFTAUGHT_KAFKA_LINGER_MS": "20",
            "SELFTAUGHT_KAFKA_COMPRESSION_TYPE": "zstd",
            "SELFTAUGHT_KAFKA_CLIENT_RACK": "eu-1a",
        }
    )
    c, p, a = s.consumer_config(), s.producer_config("pod-0"), s.admin_config()
    assert c["group.instance.id"] == "pod-0" and c["session.timeout.ms"] == "30000"
    assert p["linger.ms"] == 20 and p["compression.type"] == "zstd"
    assert "group.instance.id" not in p and "group.instance.id" not in a
    assert "compression.type" not in c
    assert c["client.rack"] == p["client.rack"] == a["client.rack"] == "eu-1a"

    warnings: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "CONFWARN" in record.getMessage():
                warnings.append(record.getMessage())

    logger = logging.getLogger("test.librdkafka.conf")
    logger.addHandler(Capture())
    # Building a client checks its configuration locally; nothing needs to answer.
    Consumer(c, logger=logger).close()
    Producer(p, logger=logger).flush(0)
    AdminClient(a, logger=logger)
    assert warnings == []


def test_the_replay_and_demo_clients_are_configured_here_too() -> None:
    s = load({"SELFTAUGHT_KAFKA_LINGER_MS": "20", "SELFTAUGHT_KAFKA_CLIENT_RACK": "eu-1a"})
    r, p = s.reader_config("g-dlq-replay"), s.replay_producer_config("g-dlq-replay")
    assert r["group.id"] == "g-dlq-replay" and r["isolation.level"] == "read_committed"
    assert r["enable.auto.commit"] is False and "linger.ms" not in r
    assert r["client.rack"] == p["client.rack"] == "eu-1a"
    assert p["transactional.id"] == "g-dlq-replay" and p["enable.idempotence"] is True
