"""Every metric, defined once.

Names are prefixed ``selftaught_``, in base units, and their labels are bounded sets (no ids
or free text). What /healthz and /readyz report, and the HTTP server, are in
``consumer.observe.health``; the batch histogram in ``consumer.observe.histogram``. Both are importable from
here too.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from consumer.events import MistakeType
from consumer.observe.health import READY, Health, serve
from consumer.observe.histogram import BatchHistogram
from consumer.redact import KINDS

__all__ = [
    "ASSIGNED",
    "BUILD",
    "CARDS",
    "COMMIT_SECONDS",
    "DEAD_LETTERS",
    "IN_FLIGHT",
    "LAG",
    "LAST_PROGRESS",
    "LATENCY",
    "LLM_CONCURRENCY_LIMIT",
    "LLM_COST",
    "LLM_IN_FLIGHT",
    "LLM_MISTAKE_TYPES",
    "LLM_NO_USAGE",
    "LLM_REQUESTS",
    "LLM_REQUEST_SECONDS",
    "LLM_SPEND_CAPPED",
    "LLM_TOKENS",
    "PAIRS",
    "PAUSED",
    "READY",
    "REBALANCES",
    "RECORDS",
    "REDACTED_CHARS",
    "REDACTIONS",
    "TRANSACTIONS",
    "BatchHistogram",
    "Health",
    "count_redactions",
    "serve",
]

RECORDS = Counter(
    "selftaught_records_consumed",
    "Input records by outcome: qualified, below_delta, not_score, sampled_out, "
    "unsafe_content, duplicate, over_budget, over_share, invalid, dead_lettered, "
    "judge_prefers_wrong (counted when their outcome is committed).",
    ["outcome"],
)
PAIR_BUDGET = Gauge(
    "selftaught_pair_budget_per_hour",
    "This instance's share of the group's pair budget: its input partitions' shares (0: none).",
)
PAIR_BUDGET_SPENT = Gauge(
    "selftaught_pair_budget_spent",
    "Pairs selected in the newest hour of event time by this instance's partitions, "
    "committed or not.",
)
PAIRS_SELECTED = Counter(
    "selftaught_pairs_selected",
    "Qualifying events selected to pair, by fair-share key (a purpose or an agent; past "
    "100 values, 'other'), counted when selected.",
    ["key"],
)
SITUATIONS = Gauge("selftaught_situations_remembered", "Situations in the near-duplicate memory.")
SITUATIONS_BYTES = Gauge(
    "selftaught_situations_memory_bytes", "Bytes the near-duplicate memory holds."
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
    name="selftaught_end_to_end_latency_seconds",
    documentation="From the input record's timestamp to the commit of its outcome.",
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


# The judge: its calls also count in the selftaught_llm_* series above (one
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
            "duplicate",
            "over_budget",
            "over_share",
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
    (LLM_MISTAKE_TYPES, tuple(m.value for m in MistakeType)),
]
for _metric, _values in _KNOWN_LABELS:
    for _value in _values:
        _metric.labels(_value)
