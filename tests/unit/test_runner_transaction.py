"""The transaction's pieces that need no broker: error sorting, retries, aborts, the watchdog."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer.errors import Fatal
from consumer.observe.metrics import Health
from consumer.runner import transaction as txn_module
from consumer.runner.status import Status
from consumer.runner.transaction import Abort, Committing, Transaction, classify


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


def test_librdkafka_errors_sort_into_abort_and_fatal() -> None:
    assert isinstance(classify(error(KafkaError._FENCED, txn_requires_abort=True), "x"), Abort)
    assert isinstance(classify(error(KafkaError._FENCED, fatal=True), "x"), Fatal)
    assert str(classify(error(KafkaError._STATE), "commit_transaction")).startswith(
        "commit_transaction: "
    )


def test_a_retriable_error_is_retried_in_place_unless_retry_is_off() -> None:
    failures = [error(KafkaError._TIMED_OUT, retriable=True)]

    def begin_transaction() -> str:
        if failures:
            raise failures.pop()
        return "begun"

    t = transaction()
    assert t.call(begin_transaction) == "begun"
    failures.append(error(KafkaError._TIMED_OUT, retriable=True))
    with pytest.raises(Abort):
        t.call(begin_transaction, retry=False)
    assert t.in_call is None


def test_a_call_failing_past_its_budget_ends_the_process() -> None:
    def abort_transaction() -> None:
        raise error(KafkaError._TIMED_OUT, retriable=True)

    with pytest.raises(Fatal, match="still failing"):
        transaction().call(abort_transaction, give_up_s=0.0)


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


def test_the_watchdog_ends_a_call_blocked_past_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(txn_module, "CALL_STUCK_S", 0.0)
    t = transaction()

    async def scenario() -> Any:
        t.in_call = ("send_offsets_to_transaction", time.monotonic())
        return await t.wait(asyncio.sleep(5))

    with pytest.raises(Fatal, match="send_offsets_to_transaction has not returned"):
        asyncio.run(scenario())
