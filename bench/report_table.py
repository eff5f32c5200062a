"""How the benchmark report prints figures and tables, shared by its sections."""

from __future__ import annotations

from typing import Any

__all__ = ["fmt", "ok", "table"]


def fmt(x: Any, nd: int = 0) -> str:
    """A figure as the report prints it: thousands separated, few decimals, ``-`` for none."""
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != int(x) and abs(x) < 100:
            return f"{x:,.2f}" if abs(x) < 10 else f"{x:,.1f}"
        return f"{x:,.{nd}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def ok(cond: bool | None) -> str:
    """The mark after a figure that has a target: met, missed, or none."""
    return "" if cond is None else ("  [ok]" if cond else "  [MISSED]")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table, the first column left-aligned and the others right-aligned."""
    cells = [[str(h) for h in headers]] + [
        [fmt(c) if not isinstance(c, str) else c for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)
