"""Wiring: settings in, a running service out. The only place that builds the object graph."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable, Mapping

from consumer import build
from consumer.commands import tuning
from consumer.errors import ConfigError, Fatal, RegistryUnavailable
from consumer.events import MistakeType
from consumer.generate import ContrastGenerator
from consumer.generate.rules import RulesGenerator
from consumer.judge.check import PairCheck
from consumer.judge.curriculum import DifficultyCurriculum
from consumer.judge.setup import make_check, make_curriculum, restorer
from consumer.observe import metrics
from consumer.pipeline import Pipeline
from consumer.runner import TP, Runner, kafka
from consumer.runner.metadata import OffsetMetadata
from consumer.selection import Policy, Selector
from consumer.selection.seam import SelectionSeam
from consumer.settings import Settings, resolve_instance_id
from consumer.stages.cards import CardPolicy
from consumer.stages.qualify import Criteria, Scale
from consumer.wire import schemas
from consumer.wire.codec import CardEncoder, EventDecoder
from consumer.wire.registry import RegistryClient, registry_client

log = logging.getLogger(__name__)


def register_schemas(s: Settings, registry: RegistryClient) -> dict[str, int]:
    """Register both value schemas under their topics' subjects (idempotent)."""
    return {
        schemas.subject(s.input_topic): registry.register(
            schemas.subject(s.input_topic), schemas.text(schemas.TRACE_EVENT)
        ),
        schemas.subject(s.output_topic): registry.register(
            schemas.subject(s.output_topic),
            schemas.text(schemas.MEMORY_CARD),
            schemas.MEMORY_CARD_COMPATIBILITY,
        ),
    }


def card_policy(s: Settings) -> CardPolicy:
    return CardPolicy(
        s.trust_score,
        s.card_text_chars,
        content_chars=s.card_content_chars,
        excerpt_chars=s.card_excerpt_chars,
        pattern_chars=s.card_pattern_chars,
        strategy_chars=s.card_strategy_chars,
    )


def make_generator(
    s: Settings, levels: Callable[[MistakeType], int] | None = None
) -> ContrastGenerator:
    """``levels``: each mistake type's subtlety level, when a judge's curriculum sets them."""
    scale = Scale(s.phi_min, s.phi_max)
    if s.backend == "rules":
        if s.llm_backend == "auto":
            log.warning(
                "ANTHROPIC_API_KEY is not set: using the embedded rules generator (rules/1); "
                "set the key, or SELFTAUGHT_LLM_BACKEND=rules to choose this on purpose"
            )
        return RulesGenerator(scale=scale, min_contrast=s.min_contrast, levels=levels)
    try:
        from consumer.generate.anthropic import AnthropicGenerator
    except ImportError as exc:  # pragma: no cover - the module ships with the package
        raise ConfigError(
            lines=[f"SELFTAUGHT_LLM_BACKEND=anthropic is unavailable: {exc}"]
        ) from exc
    return AnthropicGenerator.from_settings(s, levels=levels)


def make_selection(s: Settings) -> SelectionSeam | None:
    """The selection stage and its seam, when a pair budget is set (None: pair them all)."""
    if s.pair_budget_per_hour <= 0:
        return None
    policy = Policy(
        budget_per_hour=s.pair_budget_per_hour,
        mode=s.budget_mode,
        fair_share_key=s.fair_share_key,
        duplicate_similarity=s.duplicate_similarity,
        memory_size=s.situation_memory,
        memory_max_age_ms=int(s.situation_max_age_s * 1000),
        scale_width=s.phi_max - s.phi_min,
    )
    log.info(
        "selection on: %d pairs per hour of %s time for the group, fair by %s",
        s.pair_budget_per_hour,
        "event" if s.budget_mode == "select" else "wall",
        s.fair_share_key,
    )
    return SelectionSeam(selector=Selector(policy=policy), topic=s.input_topic)


def make_pipeline(
    s: Settings,
    registry: RegistryClient,
    schema_id: int,
    generator: ContrastGenerator,
    check: PairCheck | None,
    selection: SelectionSeam | None,
) -> Pipeline:
    """The pure stages for one record, configured from the settings."""
    return Pipeline(
        decoder=EventDecoder(source=registry),
        criteria=Criteria(
            Scale(s.phi_min, s.phi_max), s.min_delta, s.sample_rate, s.max_text_chars
        ),
        generator=generator,
        encoder=CardEncoder(schema_id=schema_id),
        policy=card_policy(s),
        min_contrast=s.min_contrast,
        check=check,
        on_redacted=metrics.count_redactions,
        selector=selection.selector if selection else None,
        on_selected=selection.selected if selection else None,
    )


def make_runner(
    s: Settings,
    instance_id: str,
    pipeline: Pipeline,
    health: metrics.Health,
    on_commit: Callable[[dict[TP, int]], None] | None,
    *,
    selection: SelectionSeam | None,
    curriculum: DifficultyCurriculum | None,
) -> Runner:
    """The Kafka loop around ``pipeline``, its clients made from the settings."""
    client_errors = kafka.ClientErrors()
    producer_config = s.producer_config(instance_id)
    return Runner(
        settings=s,
        pipeline=pipeline,
        consumer=kafka.make_consumer(s.consumer_config(), client_errors),
        producer=kafka.make_producer(producer_config, client_errors),
        health=health,
        on_commit=on_commit,
        client_errors=client_errors,
        new_producer=functools.partial(kafka.make_producer, producer_config, client_errors),
        metadata=OffsetMetadata(
            selection=selection,
            note=curriculum.encode if curriculum is not None else None,
            on_assigned=restorer(curriculum) if curriculum is not None else None,
        ),
    )


async def _output_schema_id(
    s: Settings, registry: RegistryClient, health: metrics.Health, stop: _Stop
) -> int | None:
    delay = 1.0
    while not stop.requested:
        try:
            subject = schemas.subject(s.output_topic)
            text = schemas.text(schemas.MEMORY_CARD)
            return await asyncio.to_thread(
                registry.register, subject, text, schemas.MEMORY_CARD_COMPATIBILITY
            )
        except RegistryUnavailable as exc:
            log.warning("cannot reach the schema registry yet: %s (retry in %.0fs)", exc, delay)
            health.polled()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
    return None


async def serve(
    s: Settings,
    environ: Mapping[str, str],
    *,
    health: metrics.Health | None = None,
    on_commit: Callable[[dict[TP, int]], None] | None = None,
    on_runner: Callable[[Runner], None] | None = None,
    http: bool = True,
    own_process: bool = False,
) -> int:
    """Run the service until SIGTERM/SIGINT or a fatal error; return the exit code.

    ``own_process``: the service is all this process runs (``selftaught run``), so it may
    tune the process-wide garbage collector once start-up is done (``tuning.tune_gc``) and
    the GIL's switch interval (``tuning.tune_switch_interval``).
    """
    health = health or metrics.Health()
    # Signals are handled from the first moment: a pod told to stop while it is still
    # starting exits cleanly instead of being killed half-way.
    stop = _Stop()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.request)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        return await _serve(s, environ, health, stop, on_commit, on_runner, http, own_process)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class _Stop:
    """A stop request that reaches the runner whenever it exists."""

    def __init__(self) -> None:
        self.requested = False
        self.runner: Runner | None = None

    def request(self) -> None:
        self.requested = True
        if self.runner is not None:
            self.runner.request_stop()


def _log_start(s: Settings, environ: Mapping[str, str]) -> str:
    """Log what starts (build, settings, identity); the instance id."""
    instance_id, source = resolve_instance_id(s, environ)
    built = build.info()
    metrics.BUILD.info(built)
    log.info(
        "starting selftaught-consumer",
        extra={
            "build": built,
            "settings": s.masked(),
            "instance_id": instance_id,
            "instance_id_source": source,
            "transactional_id": s.transactional_id(instance_id),
            "backend": s.backend,
        },
    )
    return instance_id


async def _serve(
    s: Settings,
    environ: Mapping[str, str],
    health: metrics.Health,
    stop: _Stop,
    on_commit: Callable[[dict[TP, int]], None] | None,
    on_runner: Callable[[Runner], None] | None,
    http: bool,
    own_process: bool,
) -> int:
    instance_id = _log_start(s, environ)
    health.stuck_after_s = s.health_stuck_after_s
    if http:
        server = metrics.serve(health, s.http_port)
        log.info("serving /metrics /healthz /readyz on port %d", server.server_address[1])
    registry = registry_client(s)
    curriculum = make_curriculum(s)
    generator = make_generator(s, curriculum.level if curriculum is not None else None)
    check = make_check(s, generator, curriculum)
    paused = getattr(generator, "paused_because", None)
    if callable(paused):
        health.blockers.append(paused)
    try:
        schema_id = await _output_schema_id(s, registry, health, stop)
        if schema_id is None:
            log.info("stopped before start-up finished")
            return 0
        selection = make_selection(s)
        pipeline = make_pipeline(s, registry, schema_id, generator, check, selection)
        runner = make_runner(
            s, instance_id, pipeline, health, on_commit, selection=selection, curriculum=curriculum
        )
        stop.runner = runner
        if stop.requested:
            runner.request_stop()
        if on_runner is not None:
            on_runner(runner)
        if own_process:
            tuning.tune_gc()
            tuning.tune_switch_interval()
        await runner.run()
    except Fatal as exc:
        log.error("fatal, exiting so the orchestrator restarts us: %s", exc)
        return 1
    finally:
        await generator.aclose()
        if check is not None:
            await check.judge.aclose()
    log.info("stopped cleanly")
    return 0
