"""``selftaught dlq replay``: dead letters back into the input topic, once their cause is fixed.

Reads the DLQ from the replay group's committed position (or the beginning) up to the end it
had when the command started, and re-injects the matching records, key, value and original
headers unchanged, in transactions that also move the replay group's offsets: a replay that
is interrupted and run again does not re-inject twice. Records that do not match the filter
are passed over (they stay in the DLQ topic; ``--from-beginning`` reaches them again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from consumer.runner.kafka import H_CLASS, H_STAGE, header, original_headers, record_headers
from consumer.settings import Settings


@dataclass
class ReplayReport:
    replayed: int = 0
    passed_over: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def replay(
    s: Settings,
    *,
    stage: str | None = None,
    reason: str | None = None,
    limit: int | None = None,
    from_beginning: bool = False,
    dry_run: bool = False,
) -> int:
    report = run_replay(
        s, stage=stage, reason=reason, limit=limit, from_beginning=from_beginning, dry_run=dry_run
    )
    verb = "would replay" if dry_run else "replayed"
    print(
        f"{verb} {report.replayed} dead letters into {s.input_topic}; "
        f"passed over {report.passed_over} that did not match"
    )
    for r, n in sorted(report.by_reason.items()):
        print(f"  {r}: {n}")
    return 0


def run_replay(
    s: Settings,
    *,
    stage: str | None,
    reason: str | None,
    limit: int | None,
    from_beginning: bool,
    dry_run: bool,
) -> ReplayReport:
    group = f"{s.group_id}-dlq-replay"
    consumer = Consumer(s.reader_config(group))
    producer = Producer(s.replay_producer_config(group))
    report = ReplayReport()
    try:
        tps, ends = _assign(consumer, s.dlq_topic, from_beginning=from_beginning)
        if not dry_run:
            producer.init_transactions(30)
        done = {p for p, end in ends.items() if end <= 0}
        while len(done) < len(ends) and (limit is None or report.replayed < limit):
            msgs = [m for m in consumer.consume(500, 1.0) if m.error() is None]
            outputs, moved = _select(
                msgs, ends, done, report, stage=stage, reason=reason, limit=limit
            )
            if moved and not dry_run:
                _replay(s, producer, consumer, outputs, moved)
            if not msgs:
                # Transaction markers at the end of a partition are never returned as
                # records: a partition whose position reached its end is done.
                for tp in consumer.position(tps):
                    if tp.offset >= ends[tp.partition]:
                        done.add(tp.partition)
                time.sleep(0.05)
    finally:
        consumer.close()
        producer.flush(10)
    return report


_Output = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


def _assign(
    consumer: Consumer, topic: str, *, from_beginning: bool
) -> tuple[list[TopicPartition], dict[int, int]]:
    """Assign every partition of the DLQ from the group's committed offset (or the
    beginning); the partitions and their ends now (what arrives later waits for a next run)."""
    meta = consumer.list_topics(topic, timeout=15).topics[topic]
    tps = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=15)[1] for tp in tps}
    starts = tps if from_beginning else consumer.committed(tps, timeout=15)
    for tp in starts:
        if from_beginning or tp.offset < 0:
            tp.offset = OFFSET_BEGINNING
    consumer.assign(starts)
    return tps, ends


def _select(
    msgs: list[Message],
    ends: dict[int, int],
    done: set[int],
    report: ReplayReport,
    *,
    stage: str | None,
    reason: str | None,
    limit: int | None,
) -> tuple[list[_Output], dict[int, int]]:
    """The dead letters to replay among ``msgs`` (the rest are passed over, and counted),
    and per partition the offset after the last record taken."""
    moved: dict[int, int] = {}
    outputs: list[_Output] = []
    for msg in msgs:
        part, offset = msg.partition() or 0, msg.offset() or 0
        if part in done or offset >= ends[part]:
            done.add(part)
            continue
        if limit is not None and report.replayed >= limit:
            break
        headers = record_headers(msg)
        r = header(headers, H_CLASS) or "unknown"
        if (stage and header(headers, H_STAGE) != stage) or (reason and r != reason):
            report.passed_over += 1
        else:
            report.replayed += 1
            report.by_reason[r] = report.by_reason.get(r, 0) + 1
            outputs.append((msg.key(), msg.value(), original_headers(headers)))
        moved[part] = offset + 1
        if offset + 1 >= ends[part]:
            done.add(part)
    return outputs, moved


def _replay(
    s: Settings,
    producer: Producer,
    consumer: Consumer,
    outputs: list[_Output],
    moved: dict[int, int],
) -> None:
    """The selected records back on the input topic, in one transaction with the DLQ
    offsets past them: a replay run twice writes nothing twice."""
    producer.begin_transaction()
    for key, value, hs in outputs:
        producer.produce(s.input_topic, key=key, value=value, headers=hs)  # type: ignore[arg-type]
    producer.send_offsets_to_transaction(
        [TopicPartition(s.dlq_topic, p, o) for p, o in moved.items()],
        consumer.consumer_group_metadata(),
        30,
    )
    producer.commit_transaction(30)
