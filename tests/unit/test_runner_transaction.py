"""The transaction's pieces that need no broker: aborts in a row, a commit met in a rebalance."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

from confluent_kafka import KafkaError, KafkaException

from consumer.observe.metrics import Health
from consumer.runner.calls import Abort
from consumer.runner.status import Status
from consumer.runner.transaction import Committing, Transaction


def error(code: int, **flags: bool) -> KafkaException:
    return KafkaException(KafkaError(code, "said the broker", **flags))


class Producer:
    def __init__(self) -> None:
        self.aborted = 0

    def abort_transaction(self, timeout: float) -> None:
        self.aborted += 1

    def poll(self, timeout: float) -> int:
        return 0


def transaction(producer: Producer | None = None) -> Transaction:
    return Transaction(
        producer=producer or Producer(),  # type: ignore[arg-type]
        output_topic="cards",
        dlq_topic="dlq",
        health=Health(),
        status=Status(),
    )


def test_the_third_abort_in_a_row_asks_for_a_rewind_and_a_commit_resets_the_count() -> None:
    producer = Producer()
    t = transaction(producer)

    async def aborts(n: int) -> list[bool]:
        return [await t.abort_and_retry("no") for _ in range(n)]

    assert asyncio.run(aborts(4)) == [False, False, True, False]
    assert producer.aborted == 4
    done: concurrent.futures.Future[float] = concurrent.futures.Future()
    done.set_result(time.monotonic())
    t.committing = Committing([], done, time.monotonic())
    assert t.settle_now() == []
    assert t.aborts_in_a_row == 0


def test_an_aborted_commit_met_in_a_rebalance_is_aborted_there() -> None:
    producer = Producer()
    t = transaction(producer)
    done: concurrent.futures.Future[float] = concurrent.futures.Future()
    done.set_exception(Abort("the broker said no"))
    t.committing = Committing([], done, time.monotonic())
    assert t.settle_now() is None
    assert (producer.aborted, t.committing) == (1, None)
