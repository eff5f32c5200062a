"""Selection: which qualifying events become pairs, within a budget.

``situation`` normalises a step's text, ``memory`` remembers what was paired, ``ledger``
counts the budget per partition and hour, ``fair`` holds each hour's max-min fair shares and
the informativeness score, ``selector`` composes them into one decision per event.
"""

from consumer.selection.ledger import HOUR_MS, partition_budget
from consumer.selection.selector import Choice, Policy, Selector, Unselected, Wait

__all__ = ["HOUR_MS", "Choice", "Policy", "Selector", "Unselected", "Wait", "partition_budget"]
