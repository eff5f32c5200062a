"""Command line: ``run | demo | schemas register | dlq replay | eval | memoryci sync``.
Parse, load settings, hand over."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from consumer import settings
from consumer.errors import ConfigError, Fatal, RegistryUnavailable
from consumer.observe import logs
from consumer.wire.registry import registry_client


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="selftaught",
        description="Turns critic score events into self-taught contrast pairs (memory cards).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service (settings from SELFTAUGHT_* variables)")
    demo = sub.add_parser("demo", help="run the whole job on bundled sample traces")
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (120)")
    sch = sub.add_parser("schemas", help="schema registry tasks")
    sch_sub = sch.add_subparsers(dest="action", required=True)
    sch_sub.add_parser("register", help="register the input and output value schemas")
    dlq = sub.add_parser("dlq", help="dead-letter tasks")
    dlq_sub = dlq.add_subparsers(dest="action", required=True)
    rep = dlq_sub.add_parser("replay", help="re-inject dead letters into the input topic")
    rep.add_argument("--stage", choices=["decode", "validate", "generate"])
    rep.add_argument("--reason", help="only dead letters with this selftaught.error.class")
    rep.add_argument("--limit", type=int, default=None, help="at most this many records")
    rep.add_argument("--from-beginning", action="store_true", help="ignore the replay position")
    rep.add_argument("--dry-run", action="store_true", help="count, do not re-inject")
    from consumer.eval.command import add_arguments as eval_arguments

    eval_arguments(sub.add_parser("eval", help="measure whether the cards make a critic better"))
    mci = sub.add_parser("memoryci", help="purpose-agent's MemoryCI (the [memoryci] extra)")
    mci_sub = mci.add_subparsers(dest="action", required=True)
    syn = mci_sub.add_parser("sync", help="submit the cards topic to MemoryCI, printing verdicts")
    syn.add_argument("--store", required=True, help="the MemoryStore's JSON file")
    syn.add_argument(
        "--idle-exit",
        type=float,
        default=10.0,
        help="return after this many seconds with no card to read (10); 0: run until stopped",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        s = settings.load()
    except ConfigError as exc:
        return _config_error(exc)
    secrets = [
        v.get_secret_value()
        for v in (s.anthropic_api_key, s.schema_registry_password)
        if v is not None
    ] + [v for k, v in s.kafka_extra.items() if settings.mask_kafka_value(k, v) == "***"]
    # The demo and eval print their results on stdout; their log goes to stderr.
    stream = sys.stderr if args.command in ("demo", "eval") else sys.stdout
    logs.setup(s.log_format, s.log_level, secrets, stream)
    try:
        return _command(s, args)
    except ConfigError as exc:
        return _config_error(exc)
    except RegistryUnavailable as exc:
        print(f"selftaught: schema registry unavailable: {exc}", file=sys.stderr)
        return 3
    except Fatal as exc:
        print(f"selftaught: {exc}", file=sys.stderr)
        return 1


def _config_error(exc: ConfigError) -> int:
    for line in exc.lines:
        print(f"selftaught: configuration error: {line}", file=sys.stderr)
    return 2


def _command(s: settings.Settings, args: argparse.Namespace) -> int:
    """Run the command ``args`` names (each imported only when it runs); its exit code."""
    if args.command == "run":
        from consumer.commands import app

        return asyncio.run(app.serve(s, os.environ, own_process=True))
    if args.command == "demo":
        from consumer.commands import demo

        return demo.main(s, timeout_s=args.timeout)
    if args.command == "schemas":
        from consumer.commands import app

        ids = app.register_schemas(s, registry_client(s))
        for subject, schema_id in ids.items():
            print(f"{subject}: schema id {schema_id}")
        return 0
    if args.command == "memoryci":
        from consumer.commands import memoryci

        report = memoryci.sync(s, args.store, idle_exit_s=args.idle_exit or None)
        print(
            f"read {report.read} cards: {report.quarantined} passed MemoryCI's immune scan "
            f"(quarantined), {report.rejected} rejected, {report.already_held} already held"
        )
        return 0
    if args.command == "dlq":
        from consumer.commands import dlq

        return dlq.replay(
            s,
            stage=args.stage,
            reason=args.reason,
            limit=args.limit,
            from_beginning=args.from_beginning,
            dry_run=args.dry_run,
        )
    if args.command == "eval":
        from consumer.eval import command

        return command.main(s, args)
    return 2
