"""How far a group has committed against the input's end, and waiting until it is there."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from testkit.service import Service
from testkit.stack import Stack, Topics

__all__ = ["committed", "input_ends", "wait_until_committed"]


def input_ends(stack: Stack, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": "ends-" + uuid.uuid4().hex})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def committed(stack: Stack, t: Topics) -> dict[int, int]:
    """The group's committed offsets ({} while the group coordinator is still loading)."""
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": t.group})
    try:
        tps = [TopicPartition(t.input, p) for p in range(t.partitions)]
        return {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
    except KafkaException as exc:
        if exc.args[0].retriable() or exc.args[0].code() == KafkaError.NOT_COORDINATOR:
            return {}
        raise
    finally:
        c.close()


def wait_until_committed(
    stack: Stack, t: Topics, timeout: float, services: list[Service] | None = None
) -> float:
    """Seconds until the group's committed offsets reach the input's end."""
    ends = input_ends(stack, t.input)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        got = committed(stack, t)
        if all(got.get(p, -1) >= end for p, end in ends.items() if end > 0):
            return time.monotonic() - started
        for s in services or []:
            if s.proc is not None and s.proc.poll() is not None and s.proc.returncode != 0:
                raise AssertionError(
                    f"service exited with {s.proc.returncode}:\n{s.logs()[-4000:]}"
                )
        time.sleep(0.5)
    raise AssertionError(
        f"not committed to the end within {timeout}s: {committed(stack, t)} < {ends}"
    )
