"""The evaluation's report: one frozen value, printed as a table, JSON, Markdown or a plot."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from consumer.eval.run import Run
from consumer.eval.stats import Comparison, Outcome, compare, grouped, wilson
from consumer.generate.anthropic_cost import Tokens

__all__ = ["Report", "build", "markdown", "plot", "table", "to_json"]


@dataclass(frozen=True, slots=True)
class Setup:
    """What was evaluated, and how."""

    model: str
    retrieval: str
    k: int
    holdout: float
    split: str
    cards: int  # read from the topic
    pairs: int  # complete pairs among them
    test_pairs: int
    memory_cards: int  # admissible memory
    memoryci_rejected: int | None  # cards MemoryCI's immune scan rejected (memoryci mode)


@dataclass(frozen=True, slots=True)
class Report:
    setup: Setup
    overall: Comparison
    by_mistake: dict[str, Comparison]
    by_purpose: dict[str, Comparison]
    shown: int  # judged pairs that had cards in context
    unanswered: dict[str, int]
    stopped: str | None
    calls: int
    tokens: Tokens
    cost_usd: float
    pairs: tuple[dict[str, Any], ...]  # per judged pair: ids, what was shown, the answers


def _answers(o: Outcome) -> dict[str, Any]:
    return {
        "without": [o.without.correct_as_a, o.without.correct_as_b],
        "with": [o.with_cards.correct_as_a, o.with_cards.correct_as_b],
    }


def build(
    setup: Setup, run: Run, *, calls: int, tokens: Tokens, cost_usd: float, seed: int = 0
) -> Report:
    outcomes = run.outcomes
    judged = [j for j in run.judgments if j.outcome is not None]
    return Report(
        setup=setup,
        overall=compare(outcomes, seed=seed),
        by_mistake=grouped(outcomes, lambda o: o.mistake_type, seed=seed),
        by_purpose=grouped(outcomes, lambda o: o.purpose, seed=seed),
        shown=sum(1 for j in judged if j.shown.card_ids),
        unanswered=dict(run.unanswered),
        stopped=run.stopped,
        calls=calls,
        tokens=tokens,
        cost_usd=cost_usd,
        pairs=tuple(
            {
                "pair_id": j.pair.pair_id,
                "purpose": j.pair.purpose,
                "mistake_type": j.pair.mistake_type,
                "shown": list(j.shown.card_ids),
                **_answers(j.outcome),
            }
            for j in judged
            if j.outcome is not None
        ),
    )


def _clean(value: Any) -> Any:
    """NaN (no pairs) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(r: Report) -> dict[str, Any]:
    out: dict[str, Any] = _clean(
        {
            "setup": asdict(r.setup),
            "overall": asdict(r.overall),
            "by_mistake_type": {k: asdict(v) for k, v in r.by_mistake.items()},
            "by_purpose": {k: asdict(v) for k, v in r.by_purpose.items()},
            "pairs_shown_cards": r.shown,
            "unanswered": r.unanswered,
            "stopped": r.stopped,
            "calls": r.calls,
            "tokens": asdict(r.tokens),
            "cost_usd": r.cost_usd,
            "pairs": list(r.pairs),
        }
    )
    return out


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}%"


def _pts(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:+.1f}"


def _rows(r: Report) -> list[tuple[str, Comparison]]:
    return [
        ("all pairs", r.overall),
        *((f"mistake: {k}", v) for k, v in r.by_mistake.items()),
        *((f"purpose: {k}", v) for k, v in r.by_purpose.items()),
    ]


_HEAD = ("", "n", "without", "with", "lift (pts) [95% CI]", "consistent w/o, with", "McNemar p")


def _cells(name: str, c: Comparison) -> tuple[str, ...]:
    return (
        name,
        str(c.n),
        _pct(c.accuracy_without),
        _pct(c.accuracy_with),
        f"{_pts(c.lift)} [{_pts(c.lift_low)}, {_pts(c.lift_high)}]",
        f"{_pct(c.consistency_without)}, {_pct(c.consistency_with)}",
        "-" if c.n == 0 else f"{c.mcnemar_p:.3g}",
    )


def _summary(r: Report) -> list[str]:
    s, t = r.setup, r.tokens
    how = f"k={s.k}" if s.retrieval == "similar" else "MemoryCI + PromptCompiler"
    rejected = (
        "" if s.memoryci_rejected is None else f", {s.memoryci_rejected} rejected by MemoryCI"
    )
    lines = [
        f"critic {s.model}; cards by {s.retrieval} ({how}); held out: {s.split} {s.holdout:g}",
        f"{s.cards} cards, {s.pairs} pairs: {s.test_pairs} test pairs, "
        f"{s.memory_cards} memory cards that may be shown{rejected}",
        f"judged {r.overall.n} pairs, cards shown for {r.shown}; a pair is right only when "
        "right in both orders",
        f"{r.calls} calls; tokens: {t.input} in, {t.output} out, {t.cache_read} cache read, "
        f"{t.cache_write} cache write; estimated cost ${r.cost_usd:.4f}",
    ]
    if r.unanswered:
        left = ", ".join(f"{k} {v}" for k, v in sorted(r.unanswered.items()))
        lines.append(f"pairs left out: {left}")
    if r.stopped:
        lines.append(f"STOPPED EARLY: {r.stopped}")
    return lines


def table(r: Report) -> str:
    rows = [_HEAD, *(_cells(n, c) for n, c in _rows(r))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEAD))]
    out = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join([*_summary(r), "", *out])


def markdown(r: Report) -> str:
    rows = [_HEAD, tuple("---" for _ in _HEAD), *(_cells(n, c) for n, c in _rows(r))]
    body = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    summary = "\n".join(f"- {line}" for line in _summary(r))
    return f"# Critic evaluation: accuracy without and with cards\n\n{summary}\n\n{body}\n"


def plot(r: Report, path: str) -> None:
    """Accuracy without and with cards per mistake type, with Wilson 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt

    names = ["all", *r.by_mistake]
    comps = [r.overall, *r.by_mistake.values()]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(names)), 4.0))
    width = 0.38
    for offset, label, attr in (
        (-width / 2, "without cards", "accuracy_without"),
        (width / 2, "with cards", "accuracy_with"),
    ):
        values, low_err, high_err = [], [], []
        for c in comps:
            acc = getattr(c, attr)
            acc = 0.0 if math.isnan(acc) else acc
            low, high = wilson(round(acc * c.n), c.n) if c.n else (0.0, 0.0)
            values.append(acc)
            low_err.append(acc - low)
            high_err.append(high - acc)
        xs = [i + offset for i in range(len(names))]
        ax.bar(xs, values, width, yerr=[low_err, high_err], capsize=3, label=label)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("right in both orders")
    ax.set_title(f"{r.setup.model}: cards by {r.setup.retrieval}, n={r.overall.n}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
