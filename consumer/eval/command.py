"""``selftaught eval``: read the cards topic, hold out test pairs, judge them, report.

The topic is read once from the beginning to the end it had at the start, read_committed
(aborted transactions' cards never count), without a consumer group's offsets (assigned, not
subscribed: an evaluation moves nobody's position).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import fastavro
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from consumer.errors import AuthFailure, ConfigError, DecodeError, Fatal
from consumer.eval.critic import Critic, estimate_usd, system_prompt, user_prompt
from consumer.eval.dataset import (
    Card,
    Pair,
    admissible,
    card_from_record,
    memory_cards,
    pairs_from_cards,
    split,
)
from consumer.eval.report import Report, Setup, build, markdown, plot, table, to_json
from consumer.generate.anthropic_cost import Prices, generator_prices
from consumer.settings import Settings
from consumer.stages.qualify import Scale
from consumer.wire import schemas
from consumer.wire.codec import read_header, without_logical_types
from consumer.wire.registry import RegistryClient, registry_client

if TYPE_CHECKING:
    from consumer.eval.retrieve import Retriever

__all__ = ["add_arguments", "main"]

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options, on its subparser."""
    p.add_argument("--topic", help="the cards topic (default: SELFTAUGHT_OUTPUT_TOPIC)")
    p.add_argument("--model", help="the critic's Messages API model (SELFTAUGHT_ANTHROPIC_MODEL)")
    p.add_argument("--retrieval", choices=["memoryci", "similar"], default="memoryci")
    p.add_argument("--k", type=int, default=4, help="cards shown by --retrieval similar (4)")
    p.add_argument("--holdout", type=float, default=0.2, help="share of pairs held out (0.2)")
    p.add_argument(
        "--split", choices=["newest", "hash"], default="newest",
        help="hold out the newest pairs, or a stable hash share of pair ids (newest)",
    )  # fmt: skip
    p.add_argument("--max-usd", type=float, default=0.0, help="the run's spend limit (none)")
    p.add_argument("--concurrency", type=int, default=8, help="calls in flight at most (8)")
    p.add_argument("--dry-run", action="store_true", help="estimate the calls and cost only")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the report as Markdown")
    p.add_argument("--plot", metavar="FILE.png", help="draw accuracy per mistake type")
    p.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (0)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to read the topic (30)")


def read_cards(s: Settings, topic: str, timeout_s: float) -> Iterator[Card]:
    """Every committed card on ``topic`` up to its end at the start, decoded to our reader
    schema (so version 1 and version 2 cards both read). Unreadable records are skipped."""
    registry = registry_client(s)
    reader = fastavro.parse_schema(without_logical_types(schemas.parsed_json(schemas.MEMORY_CARD)))
    writers: dict[int, Any] = {}
    consumer = Consumer(s.reader_config(f"{s.group_id}-eval-{uuid.uuid4().hex[:8]}"))
    skipped = 0
    try:
        meta = consumer.list_topics(topic, timeout=15).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise ConfigError(lines=[f"the cards topic {topic!r} does not exist"])
        tps = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=15)[1] for tp in tps}
        consumer.assign(tps)
        done = {p for p, end in ends.items() if end <= 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise ConfigError(lines=[f"reading {topic!r} took longer than {timeout_s:g}s"])
            msgs = consumer.consume(500, 0.5)
            for msg in msgs:
                if msg.error() is not None:
                    continue
                part, offset = msg.partition() or 0, msg.offset() or 0
                if offset >= ends[part]:  # written after the start: not this evaluation's
                    done.add(part)
                    continue
                if offset + 1 >= ends[part]:
                    done.add(part)
                try:
                    yield _decode(msg.value(), registry, writers, reader)
                except (DecodeError, *_AVRO_ERRORS):
                    skipped += 1
            if not msgs:
                # Transaction markers at a partition's end are never returned as records.
                for tp in consumer.position(tps):
                    if tp.offset >= ends[tp.partition]:
                        done.add(tp.partition)
    finally:
        consumer.close()
        if skipped:
            log.warning("skipped %d records on %s that are not readable cards", skipped, topic)


_AVRO_ERRORS = (EOFError, ValueError, IndexError, KeyError, TypeError)


def _decode(
    raw: bytes | None, registry: RegistryClient, writers: dict[int, Any], reader: Any
) -> Card:
    schema_id = read_header(raw)
    assert raw is not None  # read_header refused None
    if schema_id not in writers:
        writers[schema_id] = fastavro.parse_schema(
            without_logical_types(json.loads(registry.schema_text(schema_id)))
        )
    buf = io.BytesIO(raw)
    buf.seek(5)
    record = fastavro.schemaless_reader(buf, writers[schema_id], reader)
    return card_from_record(record)  # type: ignore[arg-type]


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} calls")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def main(s: Settings, args: argparse.Namespace) -> int:
    """Run the command; prints the report. Exit 0; ``ConfigError`` (exit 2) for a usage
    problem or refused credentials, ``Fatal`` (exit 1) when the topic cannot be read."""
    if args.k < 1 or args.concurrency < 1 or args.max_usd < 0:
        raise ConfigError(lines=["--k and --concurrency must be at least 1, --max-usd at least 0"])
    try:
        from consumer.eval.retrieve import MemoryCIRetriever, retriever
    except ImportError as exc:
        raise ConfigError(
            lines=[
                f"selftaught eval needs the eval extra ({exc.name} is missing): "
                "pip install 'selftaught-consumer[eval]'"
            ]
        ) from exc
    topic = args.topic or s.output_topic
    model = args.model or s.anthropic_model
    try:
        cards = list(read_cards(s, topic, args.timeout))
    except KafkaException as exc:
        raise Fatal(f"cannot read the cards topic {topic!r}: {exc}") from exc
    pairs = pairs_from_cards(cards)
    try:
        test, memory = split(pairs, args.holdout, args.split)
    except ValueError as exc:
        raise ConfigError(lines=[str(exc)]) from exc
    shown_from = admissible(memory_cards(memory), test)
    chooser = retriever(args.retrieval, shown_from, k=args.k)
    setup = Setup(
        model=f"anthropic/{model}",
        retrieval=args.retrieval,
        k=args.k,
        holdout=args.holdout,
        split=args.split,
        cards=len(cards),
        pairs=len(pairs),
        test_pairs=len(test),
        memory_cards=len(shown_from),
        memoryci_rejected=chooser.rejected if isinstance(chooser, MemoryCIRetriever) else None,
    )
    scale, prices = Scale(s.phi_min, s.phi_max), generator_prices(s)
    if args.dry_run:
        return _dry_run(setup, test, chooser, scale, prices)
    if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL")):
        raise ConfigError(
            lines=[
                "no Messages API model is reachable: set ANTHROPIC_API_KEY (or "
                "ANTHROPIC_BASE_URL for a local server that speaks the Messages API)"
            ]
        )
    try:
        report = asyncio.run(_judge(s, args, setup, test, chooser, scale, prices, model))
    except AuthFailure as exc:
        raise ConfigError(lines=[str(exc)]) from exc
    _write(report, args)
    return 0


def _write(report: Report, args: argparse.Namespace) -> None:
    """The report on stdout (a table, or JSON), and in the files asked for."""
    if args.json:
        print(json.dumps(to_json(report), indent=1))
    else:
        print(table(report))
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(report))
    if args.plot:
        plot(report, args.plot)


async def _judge(
    s: Settings,
    args: argparse.Namespace,
    setup: Setup,
    test: Sequence[Pair],
    chooser: Retriever,
    scale: Scale,
    prices: Prices,
    model: str,
) -> Report:
    from consumer.eval.run import evaluate

    critic = Critic(
        scale=scale,
        model=model,
        prices=prices,
        max_usd=args.max_usd,
        concurrency=args.concurrency,
        request_timeout_s=s.llm_request_timeout_s,
    )
    try:
        progress = _progress if sys.stderr.isatty() else None
        run = await evaluate(test, chooser, critic, concurrency=args.concurrency, progress=progress)
    finally:
        await critic.aclose()
    used = critic.usage()
    return build(
        setup, run, calls=used.calls, tokens=used.tokens, cost_usd=used.cost_usd, seed=args.seed
    )


def _dry_run(
    setup: Setup, test: Sequence[Pair], chooser: Retriever, scale: Scale, prices: Prices
) -> int:
    system = system_prompt(scale)
    calls, usd = 0, 0.0
    shown = 0
    for pair in test:
        memory = chooser.shown(pair).text
        shown += bool(memory)
        for text in [""] + ([memory] if memory else []):
            for first in (True, False):
                calls += 1
                usd += estimate_usd(system, user_prompt(pair, text, correct_first=first), prices)
    print(
        f"dry run: {setup.test_pairs} test pairs of {setup.pairs} ({setup.cards} cards), "
        f"{setup.memory_cards} memory cards that may be shown; cards would be shown for "
        f"{shown} pairs\nwould make {calls} calls to {setup.model}: about ${usd:.4f} at the "
        "configured prices (prompts at four characters a token, no cache); nothing was called"
    )
    return 0
