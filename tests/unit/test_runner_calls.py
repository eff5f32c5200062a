"""librdkafka's calls without a broker: error sorting, retries, the watchdog; and the
replacement of a stuck producer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer.errors import Fatal
from consumer.observe.metrics import Health
from consumer.runner import calls as calls_module
from consumer.runner.calls import Abort, Calls, classify
from consumer.runner.producers import REPLACEMENTS_BEFORE_EXIT, Producers
from consumer.runner.status import Status


def error(code: int, **flags: bool) -> KafkaException:
    return KafkaException(KafkaError(code, "said the broker", **flags))


class Producer:
    def poll(self, timeout: float) -> int:
        return 0


def calls() -> Calls:
    producers = Producers(producer=Producer())  # type: ignore[arg-type]
    return Calls(producers=producers, health=Health(), status=Status())


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

    c = calls()
    assert c.call(begin_transaction) == "begun"
    failures.append(error(KafkaError._TIMED_OUT, retriable=True))
    with pytest.raises(Abort):
        c.call(begin_transaction, retry=False)
    assert c.in_call is None


def test_a_call_failing_past_its_budget_ends_the_process() -> None:
    def abort_transaction() -> None:
        raise error(KafkaError._TIMED_OUT, retriable=True)

    with pytest.raises(Fatal, match="still failing"):
        calls().call(abort_transaction, give_up_s=0.0)


def test_the_watchdog_ends_a_call_blocked_past_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calls_module, "CALL_STUCK_S", 0.0)
    c = calls()

    async def scenario() -> Any:
        c.in_call = ("send_offsets_to_transaction", time.monotonic())
        return await c.wait(asyncio.sleep(5))

    with pytest.raises(Fatal, match="send_offsets_to_transaction has not returned"):
        asyncio.run(scenario())


def test_a_wait_aware_of_a_stop_gives_up_when_one_is_asked_for() -> None:
    status = Status()
    producers = Producers(producer=Producer())  # type: ignore[arg-type]
    c = Calls(producers=producers, health=Health(), status=status)

    async def scenario() -> bool:
        status.stopping = True
        return await c.wait(asyncio.sleep(5), stop_aware=True)

    assert asyncio.run(scenario()) is False


def test_a_stuck_producer_is_replaced_and_kept_until_too_many_are_left_behind() -> None:
    first = Producer()
    made: list[Producer] = []

    def make() -> Producer:
        made.append(Producer())
        return made[-1]

    producers = Producers(producer=first, new_producer=make)  # type: ignore[arg-type]
    for _ in range(REPLACEMENTS_BEFORE_EXIT):
        assert producers.replace("stuck") is producers.current
    assert producers.current is made[-1] and len(made) == REPLACEMENTS_BEFORE_EXIT
    with pytest.raises(Fatal, match="stuck"):
        producers.replace("stuck")
    assert producers.current is made[-1]  # the process exits with the last one in use


def test_without_a_way_to_make_a_producer_a_stuck_one_ends_the_process() -> None:
    producers = Producers(producer=Producer())  # type: ignore[arg-type]
    with pytest.raises(Fatal, match="has not returned"):
        producers.replace("send_offsets_to_transaction has not returned")
