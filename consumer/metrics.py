"""Every metric, defined once, and the HTTP server for /metrics, /healthz and /readyz.

Names are prefixed ``selftaught_``, in base units, and their labels are bounded sets (no ids
or free text). ``prometheus_client.start_http_server`` answers every path with metrics, so
the health endpoints are served here by hand.
"""

from __future__ import annotations

import itertools
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from consumer.redact import KINDS

# How prometheus_client itself writes an `le` bound (it is untyped).
_le = cast(Callable[[float], str], floatToGoString)


class BatchHistogram:
    """A histogram observed a batch of values at a time, exposed like any other.

    ``prometheus_client.Histogram.observe`` takes a lock twice and scans the bounds for each
    value. The end-to-end latency is observed for every committed record, tens of thousands a
    second at full speed, where that was about 4% of the service's CPU. Here a commit's values
    go into local bucket counts (a bisection each) and are added under one lock. Scrapes see
    ``_bucket{le}``, ``_count`` and ``_sum`` as from a ``Histogram``.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Iterable[float],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self._name = name
        self._doc = documentation
        self._bounds = tuple(sorted(float(b) for b in buckets))
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_all(self, values: Iterable[float]) -> None:
        bounds, counts, total = self._bounds, [0] * len(self._counts), 0.0
        for value in values:
            counts[bisect_left(bounds, value)] += 1  # the first bucket whose le >= value
            total += value
        with self._lock:
            self._counts = [a + b for a, b in zip(self._counts, counts, strict=True)]
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts, total = self._counts, self._sum
        les = [*(_le(b) for b in self._bounds), "+Inf"]
        yield HistogramMetricFamily(
            self._name,
            self._doc,
            buckets=list(zip(les, itertools.accumulate(counts), strict=True)),
            sum_value=total,
        )


RECORDS = Counter(
    "selftaught_records_consumed",
    "Input records by outcome: qualified, below_delta, not_score, sampled_out, "
    "unsafe_content, invalid, dead_lettered, judge_prefers_wrong (counted when their outcome "
    "is committed).",
    ["outcome"],
)
PAIRS = Counter(
    "selftaught_pairs_generated",
    "Contrast pairs committed, by generator and mistake type.",
    ["generator", "mistake_type"],
)
CARDS = Counter("selftaught_cards_produced", "Memory cards committed, by kind.", ["kind"])
DEAD_LETTERS = Counter(
    "selftaught_dead_letters", "Dead letters committed, by stage and reason.", ["stage", "reason"]
)
LATENCY = BatchHistogram(
    "selftaught_end_to_end_latency_seconds",
    "From the input record's timestamp to the commit of its outcome.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
COMMIT_SECONDS = Histogram(
    "selftaught_transaction_duration_seconds",
    "From begin_transaction to the end of commit_transaction.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TRANSACTIONS = Counter(
    "selftaught_transactions", "Transactions by result: committed, aborted.", ["result"]
)
REBALANCES = Counter(
    "selftaught_rebalances", "Rebalance events by kind: assigned, revoked, lost.", ["kind"]
)
IN_FLIGHT = Gauge("selftaught_in_flight_records", "Records read but not yet committed.")
PAUSED = Gauge("selftaught_paused_partitions", "Assigned partitions paused by backpressure.")
ASSIGNED = Gauge("selftaught_assigned_partitions", "Partitions assigned to this instance.")
LAG = Gauge(
    "selftaught_consumer_lag_records",
    "High watermark minus committed position, per assigned partition.",
    ["topic", "partition"],
)
LAST_PROGRESS = Gauge(
    "selftaught_last_progress_timestamp_seconds",
    "Unix time of the last committed transaction.",
)
READY = Gauge("selftaught_ready", "1 when /readyz answers ready.")
BUILD = Info(
    "selftaught_build",
    "This install: package version, Python version, and how many hot-path modules run "
    "compiled (mypyc), as n/total.",
)

# The Anthropic generator. Outcomes are one bounded set for every HTTP attempt: ok,
# throttled, overloaded, server_error, timeout, connection_error, bad_request, auth_error,
# refusal, max_tokens, parse_error, invalid.
LLM_REQUESTS = Counter("selftaught_llm_requests", "LLM API attempts, by outcome.", ["outcome"])
LLM_REQUEST_SECONDS = Histogram(
    "selftaught_llm_request_duration_seconds",
    "One LLM API attempt, from sending to the parsed answer or the error.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
LLM_CONCURRENCY_LIMIT = Gauge(
    "selftaught_llm_concurrency_limit", "The AIMD limit on concurrent LLM calls."
)
LLM_IN_FLIGHT = Gauge("selftaught_llm_in_flight", "LLM calls in flight.")
LLM_TOKENS = Counter(
    "selftaught_llm_tokens",
    "Tokens reported by the LLM's usage, by kind: input, output, cache_read, cache_write.",
    ["kind"],
)
LLM_COST = Counter(
    "selftaught_llm_cost_usd",
    "Estimated LLM spend in USD, from usage and the configured per-million-token prices.",
)
LLM_NO_USAGE = Counter(
    "selftaught_llm_responses_without_usage",
    "LLM responses that carried no usage: their cost is unknown, not zero.",
)
LLM_SPEND_CAPPED = Gauge(
    "selftaught_llm_spend_capped", "1 while LLM calls wait for the hourly spend cap."
)
REDACTIONS = Counter(
    "selftaught_redactions",
    "Untrusted trace text replaced by a marker before any LLM call and in the cards, by "
    "kind (neutralised: a trigger-looking form changed, its meaning kept).",
    ["kind"],
)
REDACTED_CHARS = Counter(
    "selftaught_redacted_event_chars",
    "Characters of the events that redaction changed: kept, or removed behind a marker.",
    ["outcome"],
)


def count_redactions(counts: dict[str, int], removed: int, total: int) -> None:
    """The pipeline's ``on_redacted``."""
    for kind, n in counts.items():
        REDACTIONS.labels(kind).inc(n)
    REDACTED_CHARS.labels("removed").inc(removed)
    REDACTED_CHARS.labels("kept").inc(max(total - removed, 0))


LLM_MISTAKE_TYPES = Counter(
    "selftaught_llm_mistake_types",
    "Wrong evaluations the LLM produced, by the mistake type it achieved.",
    ["mistake_type"],
)


# The judge (issue 20): its calls also count in the selftaught_llm_* series above (one
# limiter, one spend cap, one set of failure outcomes); these are its own share.
JUDGE_VERDICTS = Counter(
    "selftaught_judge_verdicts",
    "Pairs the judge checked, by verdict: right (both orders), split (one), wrong (neither: "
    "judge_prefers_wrong, not published), unjudged (no usable answer in time: published "
    "without a judge).",
    ["verdict", "mistake_type"],
)
JUDGE_UNJUDGED = Counter(
    "selftaught_judge_unjudged",
    "Pairs published without a verdict, by why: llm_unavailable, refusal, parse_error, ...",
    ["reason"],
)
JUDGE_DIFFICULTY = Histogram(
    "selftaught_judge_difficulty",
    "The judge's difficulty of each judged pair (0, 0.5 or 1), by mistake type.",
    ["mistake_type"],
    buckets=(0.0, 0.5, 1.0),
)
JUDGE_TOKENS = Counter(
    "selftaught_judge_tokens",
    "Tokens of the judge's calls, by kind: input, output, cache_read, cache_write.",
    ["kind"],
)
JUDGE_COST = Counter("selftaught_judge_cost_usd", "Estimated spend of the judge's calls in USD.")
SUBTLETY_LEVEL = Gauge(
    "selftaught_curriculum_level",
    "The subtlety level the generator is asked for, by mistake type (0 obvious .. 4 subtle).",
    ["mistake_type"],
)
CURRICULUM_MEAN_DIFFICULTY = Gauge(
    "selftaught_curriculum_mean_difficulty",
    "The judge's recent mean difficulty by mistake type, as the curriculum steers it.",
    ["mistake_type"],
)

# Counters with a label appear only when a label value is first used, and rate()/increase()
# miss that first increment. Every label value of a bounded set is created at zero up front,
# so dashboards and alerts see a series from the first scrape.
_KNOWN_LABELS: list[tuple[Counter, tuple[str, ...]]] = [
    (
        RECORDS,
        (
            "qualified",
            "below_delta",
            "not_score",
            "sampled_out",
            "unsafe_content",
            "invalid",
            "dead_lettered",
            "judge_prefers_wrong",
        ),
    ),
    (REDACTIONS, KINDS),
    (REDACTED_CHARS, ("kept", "removed")),
    (CARDS, ("critic_calibration", "failure_pattern")),
    (TRANSACTIONS, ("committed", "aborted")),
    (REBALANCES, ("assigned", "revoked", "lost")),
    (
        LLM_REQUESTS,
        (
            "ok",
            "throttled",
            "overloaded",
            "server_error",
            "timeout",
            "connection_error",
            "bad_request",
            "auth_error",
            "refusal",
            "max_tokens",
            "parse_error",
            "invalid",
            "unsafe",
        ),
    ),
    (LLM_TOKENS, ("input", "output", "cache_read", "cache_write")),
    (JUDGE_TOKENS, ("input", "output", "cache_read", "cache_write")),
    (
        LLM_MISTAKE_TYPES,
        (
            "intention_credit",
            "sycophancy",
            "ignored_evidence",
            "scale_inconsistency",
            "purpose_drift",
            "other",
        ),
    ),
]
for _metric, _values in _KNOWN_LABELS:
    for _value in _values:
        _metric.labels(_value)


@dataclass
class Health:
    """What /healthz and /readyz report. Written by the runner, read by the HTTP thread."""

    # /healthz fails when the loop has not polled for this long: well below librdkafka's
    # max.poll.interval.ms (300 s), so Kubernetes restarts a wedged pod before the group
    # evicts it.
    stuck_after_s: float = 60.0
    last_poll: float = field(default_factory=time.monotonic)
    producer_ready: bool = False
    group_joined: bool = False
    stopped_because: str | None = None
    # Other reasons not to be ready, asked at each check (e.g. the generator's spend cap).
    blockers: list[Callable[[], str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def polled(self) -> None:
        self.last_poll = time.monotonic()

    def stop(self, why: str) -> None:
        with self._lock:
            self.stopped_because = why
        READY.set(0)

    def live(self) -> tuple[bool, str]:
        idle = time.monotonic() - self.last_poll
        if idle > self.stuck_after_s:
            return False, f"the consumer loop has not polled for {idle:.0f}s\n"
        return True, f"ok: last poll {idle:.1f}s ago\n"

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            reasons = []
            if self.stopped_because:
                reasons.append(f"stopped: {self.stopped_because}")
            if not self.producer_ready:
                reasons.append("the transactional producer is not initialised")
            if not self.group_joined:
                reasons.append("the consumer has not joined its group")
            blockers = list(self.blockers)
        reasons.extend(why for why in (b() for b in blockers) if why)
        ok = not reasons
        READY.set(1 if ok else 0)
        return ok, ("ready\n" if ok else "not ready: " + "; ".join(reasons) + "\n")


def serve(health: Health, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start the HTTP server on a daemon thread; ``port`` 0 picks a free one."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok, text = health.live()
                self._send(200 if ok else 503, text.encode())
            elif path == "/readyz":
                ok, text = health.ready()
                self._send(200 if ok else 503, text.encode())
            else:
                self._send(404, b"not found: try /metrics, /healthz or /readyz\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the service's own log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
