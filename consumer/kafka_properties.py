"""Facts about librdkafka's properties that the settings route by: which ones the service
owns, and which belong to one client role (librdkafka's CONFIGURATION.md, its C/P column).

Data only; ``consumer/settings.py`` builds every librdkafka configuration from it.
"""

from __future__ import annotations

__all__ = ["CONSUMER_ONLY", "OWNED_KAFKA_KEYS", "PRODUCER_ONLY"]

#: librdkafka properties this service owns; a pass-through may not override them, because
#: exactly-once depends on them.
OWNED_KAFKA_KEYS = frozenset(
    {
        "bootstrap.servers",
        "group.id",
        "transactional.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "isolation.level",
        "enable.idempotence",
    }
)


#: librdkafka properties of one client role (CONFIGURATION.md's C/P column) that users set
#: through SELFTAUGHT_KAFKA_*; each goes only to the clients of its role.
CONSUMER_ONLY = frozenset(
    {
        "group.instance.id",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "auto.offset.reset",
        "queued.min.messages",
        "queued.max.messages.kbytes",
        "fetch.wait.max.ms",
        "fetch.min.bytes",
        "fetch.max.bytes",
        "max.partition.fetch.bytes",
        "fetch.message.max.bytes",
        "partition.assignment.strategy",
        "group.protocol",
        "group.remote.assignor",
        "check.crcs",
    }
)
PRODUCER_ONLY = frozenset(
    {
        "transaction.timeout.ms",
        "linger.ms",
        "queue.buffering.max.ms",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "batch.size",
        "batch.num.messages",
        "compression.type",
        "compression.codec",
        "compression.level",
        "acks",
        "request.required.acks",
        "retries",
        "message.send.max.retries",
        "delivery.timeout.ms",
        "message.timeout.ms",
        "request.timeout.ms",
        "sticky.partitioning.linger.ms",
    }
)
