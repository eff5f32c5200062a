"""The figures each fault scenario prints: in, out, duplicates, dead letters, recovery."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from testkit.produce import Sent
from tests.integration.harness import Output


@dataclass
class Figures:
    scenario: str
    events_in: int
    cards_out: int
    duplicates: int
    dead_letters: int
    recover_s: float
    extra: str = ""

    def line(self) -> str:
        return (
            f"[fault] {self.scenario}: events in {self.events_in}, cards out {self.cards_out}, "
            f"duplicates {self.duplicates}, dead letters {self.dead_letters}, "
            f"recovered in {self.recover_s:.1f}s{(' ' + self.extra) if self.extra else ''}"
        )


def figures(scenario: str, sent: Sent, out: Output, recover_s: float, extra: str = "") -> Figures:
    ids = Counter(c["card_id"] for c in out.cards)
    f = Figures(
        scenario,
        sent.total,
        len(out.cards),
        sum(n - 1 for n in ids.values() if n > 1),
        len(out.dead),
        recover_s,
        extra,
    )
    print("\n" + f.line())
    return f
