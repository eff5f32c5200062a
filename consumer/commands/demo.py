"""``selftaught demo``: the whole job on bundled sample traces, against the local stack.

Starts nothing by itself: it checks that Kafka and the registry answer and says how to start
them if not. Then it creates the topics if needed, registers the schemas, produces the
samples (and one record that is not Avro at all), runs the service until they are committed,
and prints what came out.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from importlib import resources
from typing import Any

import fastavro
from confluent_kafka import KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from consumer.commands import app
from consumer.errors import RegistryUnavailable, TimedOut
from consumer.observe import metrics
from consumer.runner import TP, Runner, kafka
from consumer.runner.readback import TopicEnds, read_range, wait_stable
from consumer.selection import Unselected
from consumer.settings import Settings
from consumer.wire import schemas
from consumer.wire.codec import MAGIC, decode_card, without_logical_types
from consumer.wire.registry import registry_client

START_HINT = "start the local stack with:  bash deploy/local/stack.sh up"
POISON = b"this is not an Avro record"


def sample_events() -> list[dict[str, Any]]:
    text = resources.files("consumer").joinpath("samples/traces.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def check_stack(s: Settings) -> list[str]:
    """What does not answer, one line each (empty when the stack is up)."""
    problems = []
    try:
        admin = AdminClient(s.admin_config(logger=logging.getLogger("kafka.check")))
        admin.list_topics(timeout=5)
    except KafkaException as exc:
        problems.append(f"Kafka at {s.bootstrap_servers} does not answer ({exc.args[0].str()})")
    try:
        registry_client(s).schema_text(1)
    except RegistryUnavailable as exc:
        problems.append(f"the schema registry at {s.schema_registry_url} does not answer ({exc})")
    except Exception:
        pass
    return problems


def encode_event(schema_id: int, event: dict[str, Any]) -> bytes:
    schema = fastavro.parse_schema(without_logical_types(schemas.parsed_json(schemas.TRACE_EVENT)))
    buf = io.BytesIO()
    buf.write(bytes([MAGIC]) + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(buf, schema, event)
    return buf.getvalue()


#: The bound on each wait after the service stopped: until what it committed is readable (the
#: transaction markers replicated: milliseconds on a healthy cluster, seconds on a loaded one
#: or across a leader election), and until it has been read back.
SETTLE_S = 30.0


def _written(s: Settings, topic: str) -> dict[int, int]:
    with TopicEnds(settings=s, topic=topic) as ends:
        return ends.written()


def _settled(s: Settings, topic: str) -> dict[int, int]:
    """The topic's end once everything written to it so far can be read (see readback)."""
    with TopicEnds(settings=s, topic=topic) as ends:
        target = ends.written()
        wait_stable(topic, target, ends.stable, timeout_s=SETTLE_S)
    return target


#: Printed when the run skipped any for them (a budget is set).
SELECTION_SKIPS = tuple(u.value for u in Unselected)


def _outcome_counts() -> dict[str, float]:
    """Records consumed so far by outcome, read back from our own counter."""
    out: dict[str, float] = {}
    for family in metrics.RECORDS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                out[sample.labels["outcome"]] = sample.value
    return out


_VERDICT = "judge"


def _verdict(card: dict[str, Any]) -> str:
    """A pair's verdict as the cards carry it: the difficulty the judge found, or none."""
    if card.get("judge") is None:
        return "-"
    return "right" if card.get("difficulty") == 0 else "split (0.5)"


def _verdict_counts() -> dict[str, float]:
    out: dict[str, float] = {}
    for family in metrics.JUDGE_VERDICTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                verdict = sample.labels["verdict"]
                out[verdict] = out.get(verdict, 0.0) + sample.value
    return out


def main(s: Settings, timeout_s: float = 120.0) -> int:
    problems = check_stack(s)
    if problems:
        for line in problems:
            print(f"selftaught demo: {line}")
        print(f"selftaught demo: {START_HINT}")
        return 1
    try:
        return _demo(s, timeout_s)
    except TimedOut as exc:
        print(f"selftaught demo: {exc}")
        return 1


def _demo(s: Settings, timeout_s: float) -> int:
    created = kafka.ensure_topics(
        s.admin_config(), kafka.service_topics(s.input_topic, s.output_topic, s.dlq_topic, 3)
    )
    if created:
        print(f"created topics: {', '.join(created)}")
    registry = registry_client(s)
    ids = app.register_schemas(s, registry)
    print("registered schemas: " + ", ".join(f"{k} (id {v})" for k, v in ids.items()))

    # What this run adds starts at the logs' ends, committed or not: records of an earlier
    # run still waiting for their markers are that run's.
    out_start, dlq_start = _written(s, s.output_topic), _written(s, s.dlq_topic)
    events = sample_events()
    producer = Producer(s.plain_producer_config())
    input_id = ids[schemas.subject(s.input_topic)]
    for ev in events:
        producer.produce(
            s.input_topic, key=ev["trace_id"].encode(), value=encode_event(input_id, ev)
        )
    producer.produce(s.input_topic, key=b"trace-demo-poison", value=POISON)
    if producer.flush(SETTLE_S):
        raise TimedOut(f"the samples were not all acknowledged by Kafka within {SETTLE_S:g}s")
    targets = {(s.input_topic, p): end for p, end in _written(s, s.input_topic).items() if end > 0}
    print(f"produced {len(events) + 1} sample records to {s.input_topic}; running the service")

    before = _outcome_counts()
    code = asyncio.run(_run_until(s, targets, timeout_s))
    if code != 0:
        return code
    after = _outcome_counts()
    # The service committed the input to its end; its last transaction's markers may still be
    # on their way to the output partitions' replicas.
    out_end, dlq_end = _settled(s, s.output_topic), _settled(s, s.dlq_topic)
    cards = [
        decode_card(m.value() or b"", registry.schema_text)
        for m in read_range(s, s.output_topic, out_start, out_end, SETTLE_S)
    ]
    dead = read_range(s, s.dlq_topic, dlq_start, dlq_end, SETTLE_S)
    _print_results(s, cards, dead, before, after)
    return 0


async def _run_until(s: Settings, targets: dict[TP, int], timeout_s: float) -> int:
    holder: list[Runner] = []

    def on_commit(committed: dict[TP, int]) -> None:
        if holder and all(committed.get(tp, 0) >= end for tp, end in targets.items()):
            holder[0].request_stop()

    task = asyncio.create_task(
        app.serve(s, os.environ, on_commit=on_commit, on_runner=holder.append, http=False)
    )
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout_s)
    except TimeoutError:
        print(f"selftaught demo: not all samples were processed within {timeout_s:.0f}s")
        if holder:
            holder[0].request_stop()
        await task
        return 1


def _print_results(
    s: Settings,
    cards: list[dict[str, Any]],
    dead: list[Message],
    before: dict[str, float],
    after: dict[str, float],
) -> None:
    by_pair: dict[str, dict[str, dict[str, Any]]] = {}
    for c in cards:
        by_pair.setdefault(c["pair_id"], {})[c["kind"]] = c
    print(
        f"\n{len(cards)} memory cards written to {s.output_topic}, {len(by_pair)} contrast pairs:"
    )
    if len(cards) > 2 * len(by_pair):
        print("  (the samples were processed more than once, e.g. by an earlier demo run; their")
        print("   cards carry the same deterministic ids, so MemoryCI keeps one of each)")
    print()
    print(
        f"  {'source event':<24} {'Φ before':>8} {'correct':>8} {'wrong':>6}  {_VERDICT:<12} mistake"
    )
    for pair in sorted(by_pair.values(), key=lambda p: next(iter(p.values()))["source_event_id"]):
        ok, bad = pair.get("critic_calibration"), pair.get("failure_pattern")
        if ok is None or bad is None:
            continue
        print(
            f"  {ok['source_event_id']:<24} {ok['phi_before']:>8g} {ok['phi_after']:>8g} "
            f"{bad['phi_after']:>6g}  {_verdict(bad):<12} {bad['mistake_type']}"
        )
    if s.judge_backend != "off":
        verdicts = _verdict_counts()
        print(
            "\njudge verdicts (both answer orders): "
            + ", ".join(f"{k} {int(verdicts.get(k, 0))}" for k in ("right", "split", "unjudged"))
            + f", wrong {int(verdicts.get('wrong', 0))} (judge_prefers_wrong: not published"
            + (f", written to {s.disputed_topic})" if s.disputed_topic else ")")
        )
    example = next((p for p in by_pair.values() if "failure_pattern" in p), None)
    if example:
        print("\n  e.g. " + example["failure_pattern"]["content"][:300])
    skipped = {
        k: after.get(k, 0) - before.get(k, 0)
        for k in ("not_score", "below_delta", "sampled_out", "unsafe_content", *SELECTION_SKIPS)
        if k not in SELECTION_SKIPS or after.get(k, 0) - before.get(k, 0)
    }
    print("\nskipped: " + ", ".join(f"{k} {int(v)}" for k, v in skipped.items()))
    print(f"dead-lettered: {len(dead)}")
    for msg in dead:
        h = kafka.record_headers(msg)
        print(
            f"  {kafka.header(h, kafka.H_STAGE)}/{kafka.header(h, kafka.H_CLASS)}: "
            f"{kafka.header(h, kafka.H_MESSAGE)}"
        )
    _print_memoryci(cards)


def _print_memoryci(cards: list[dict[str, Any]]) -> None:
    """What MemoryCI did with the cards, and the critic prompt it compiles from them."""
    try:
        from purpose_agent.memory import MemoryStore  # type: ignore[import-untyped]
    except ImportError:
        print("\nMemoryCI: pip install 'selftaught-consumer[memoryci]' to see what it does")
        return
    from consumer.commands import memoryci

    store = MemoryStore()  # in memory: the demo leaves nothing behind
    verdicts = memoryci.submit_all(store, cards)
    passed = sum(v.status == "quarantined" for v in verdicts)
    print(
        f"\nMemoryCI (purpose-agent): {passed} of {len(verdicts)} cards passed its immune scan "
        "(quarantined)"
    )
    for v in verdicts:
        if v.status == "rejected":
            print(f"  rejected {v.card_id} ({v.kind}): {', '.join(v.threats)}")
    prompt = memoryci.compiled_prompt(store, task="score one step of an agent's work")
    print(
        f"\nA critic's prompt compiled from the promoted cards ({prompt.memories_included} "
        f"cards, about {prompt.total_tokens_estimated} tokens):\n"
    )
    print(prompt.system_prompt)
