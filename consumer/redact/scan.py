"""Pure: the check that a text is safe to publish, a mirror of MemoryCI's immune scan.

MemoryCI (``purpose_agent/immune.py``) searches each of its patterns in a card's text: the
injection and score-manipulation patterns in the lower-cased text, the tool-misuse and privacy
patterns in the text as it is. Python's ``re`` tries a pattern at every position of the text,
and a card is most of a kilobyte, so here each pattern runs only when the words it cannot
match without are in the text: a card that carries no trigger costs about twenty substring
tests.
The patterns are immune.py's, verbatim (tests/unit/test_scan.py compares them and checks that
``unsafe`` is ``None`` exactly when MemoryCI's scan passes).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from consumer.events import MemoryCard
from consumer.redact.words import Words

__all__ = ["card_text", "unsafe"]

# -- MemoryCI's tables, as immune.py has them -------------------------------------------------
INJECTION: Final = (
    r"ignore\s+(previous|above|all)(\s+\w+)*\s*(instructions|prompts|rules)",
    r"you\s+are\s+now\s+",
    r"system\s*:\s*",
    r"<\|im_start\|>",
    r"<\|system\|>",
    r"\[INST\]",
    r"###\s*(instruction|system)",
    r"forget\s+(everything|all|your)",
    r"override\s+(your|the)\s+(purpose|rules|instructions)",
    r"new\s+instructions?\s*:",
    r"disregard\s+(the\s+)?(above|previous)",
    r"ignore\s+.*\binstructions\b",
)
SCORE_MANIPULATION: Final = (
    r"(always|must)\s+(score|rate|give)\s+(high|10|maximum|perfect)",
    r"Φ\s*=\s*10",
    r"phi\s*=\s*10",
    r"delta\s*(must|should)\s*be\s*positive",
    r"never\s+give\s+(negative|zero|low)\s+(score|delta|rating)",
    r"confidence\s*=\s*1\.0",
)
TOOL_MISUSE: Final = (
    r"rm\s+-rf\s+/",
    r"os\.system\s*\(",
    r"subprocess\s*\.\s*(call|run|Popen)",
    r"__import__\s*\(",
    r"eval\s*\(",
    r"exec\s*\(",
    r"shutil\.rmtree",
    r"open\s*\(['\"]/(etc|proc|sys|dev)",
    r"curl\s+.*\|\s*sh",
    r"wget\s+.*\|\s*bash",
)
PRIVACY: Final = (
    r"sk-[a-zA-Z0-9]{20,}",
    r"hf_[a-zA-Z0-9]{20,}",
    r"ghp_[a-zA-Z0-9]{20,}",
    r"AKIA[0-9A-Z]{16}",
    r"\b\d{3}-\d{2}-\d{4}\b",
    r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b",
    r"/home/[a-zA-Z0-9]+/",
    r"C:\\Users\\[a-zA-Z0-9]+\\",
)

# -- what each pattern cannot match without ----------------------------------------------------
# Per pattern, groups of words: a match needs one word of every group in the text the pattern
# is searched in. Each group is a necessary condition read off the pattern's literals (``\s``
# is any Unicode space, so a word is never joined to what follows it). The groups are tested
# most selective first (see _table).
_SPACES: Final = ("?", *(chr(i) for i in range(0x3001) if chr(i).isspace()))


def _then_space_or(word: str, end: str) -> tuple[str, ...]:
    r"""``word`` followed by ``end`` or by a space: ``word\s*end`` needs one of these. ("?"
    stands for any character beyond ASCII in the copy the words are looked for in.) Every
    failure card says "evaluation" and many a state "system"; few say "eval(" or "system:"."""
    return (word + end, *(word + c for c in _SPACES))


_NEEDS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    # searched in the lower-cased text
    INJECTION[0]: (("ignore",), ("instructions", "prompts", "rules")),
    INJECTION[1]: (("now",), ("you",), ("are",)),
    INJECTION[2]: (_then_space_or("system", ":"),),
    INJECTION[3]: (("|",),),
    INJECTION[4]: (("|",),),
    INJECTION[5]: (("[INST]",),),
    INJECTION[6]: (("#",),),
    INJECTION[7]: (("forget",),),
    INJECTION[8]: (("override",),),
    INJECTION[9]: ((":",), ("instruction",), ("new",)),
    INJECTION[10]: (("disregard",),),
    INJECTION[11]: (("ignore",), ("instructions",)),
    SCORE_MANIPULATION[0]: (("always", "must"), ("score", "rate", "give")),
    SCORE_MANIPULATION[1]: (("Φ",),),
    SCORE_MANIPULATION[2]: (("=",), ("phi",)),
    SCORE_MANIPULATION[3]: (("delta",), ("positive",)),
    SCORE_MANIPULATION[4]: (("never",), ("give",)),
    SCORE_MANIPULATION[5]: (("=",), ("confidence",)),
    # searched in the text as it is
    TOOL_MISUSE[0]: (("-",), ("-rf",)),
    TOOL_MISUSE[1]: (("os.system",),),
    TOOL_MISUSE[2]: (("subprocess",),),
    TOOL_MISUSE[3]: (("_",), ("__import__",)),
    TOOL_MISUSE[4]: (_then_space_or("eval", "("),),
    TOOL_MISUSE[5]: (_then_space_or("exec", "("),),
    TOOL_MISUSE[6]: (("shutil.rmtree",),),
    TOOL_MISUSE[7]: (("/",), ("open",)),
    TOOL_MISUSE[8]: (("|",), ("curl",)),
    TOOL_MISUSE[9]: (("|",), ("wget",)),
    PRIVACY[0]: (("-",), ("sk-",)),
    PRIVACY[1]: (("_",), ("hf_",)),
    PRIVACY[2]: (("_",), ("ghp_",)),
    PRIVACY[3]: (("K",), ("AKIA",)),
    PRIVACY[4]: (("-",),),
    PRIVACY[5]: (("@",),),
    PRIVACY[6]: (("/",), ("/home/",)),
    PRIVACY[7]: (("\\",),),
}

# Two patterns that start with a character class, which re tries at every position: each is
# searched only where a necessary part of it that starts with a literal is found first.
_HINTS: Final = {
    PRIVACY[4]: re.compile(r"-\d\d-\d"),
    PRIVACY[5]: re.compile(r"@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b"),
}


class _Rule(NamedTuple):
    order: int  # its place in MemoryCI's table: of two matches at one position, the first's
    needs: tuple[tuple[str, ...], ...]  # after the first group, which its table holds
    # (lower-cased: the words are looked for in a lower-cased copy of the text, and a word of
    # the text is in its lower-cased copy lower-cased)
    hint: re.Pattern[str] | None
    pattern: re.Pattern[str]


# A table: the rules under the first group of words they need (rules that share it share
# the substring tests).
_Table = tuple[tuple[tuple[str, ...], tuple[_Rule, ...]], ...]


def _table(patterns: tuple[str, ...], lowered: bool) -> _Table:
    under: dict[tuple[str, ...], list[_Rule]] = {}
    for order, p in enumerate(patterns):
        # The group whose shortest word is longest first: a single character (":", "-") is
        # in most texts, a word of six letters in few.
        first, *rest = sorted(_NEEDS[p], key=lambda group: -min(len(w) for w in group))
        # Lower-cased text holds no character that lower() changes (test_scan checks every
        # code point), so a pattern that needs one ("\[INST\]", "Φ") never matches there,
        # in MemoryCI as here: it is left out.
        if lowered and not all(any(w == w.lower() for w in g) for g in _NEEDS[p]):
            continue
        rest = [tuple(w.lower() for w in group) for group in rest]
        rule = _Rule(order, tuple(rest), _HINTS.get(p), re.compile(p))
        under.setdefault(tuple(w.lower() for w in first), []).append(rule)
    return tuple((first, tuple(rules)) for first, rules in under.items())


_LOWER: Final = _table(INJECTION + SCORE_MANIPULATION, lowered=True)
_CASED: Final = _table(TOOL_MISUSE + PRIVACY, lowered=False)
# Every word a rule needs, lower-cased (a superset: a rule left out of _LOWER adds a word
# nobody asks for), and the calibration rule's.
_WORDS: Final = Words(
    words=[w.lower() for needs in _NEEDS.values() for group in needs for w in group]
    + ["always", "high", "10"]
)


def _gated(table: _Table, present: set[str]) -> list[_Rule]:
    """The table's rules whose words are all ``present``: nearly always none."""
    found: list[_Rule] = []
    for words, rules in table:
        for word in words:
            if word in present:
                break
        else:
            continue
        for rule in rules:
            for group in rule.needs:
                for word in group:
                    if word in present:
                        break
                else:
                    break
            else:
                found.append(rule)
    return found


def _first(rules: list[_Rule], text: str) -> re.Match[str] | None:
    """The match one alternation of the rules' patterns would find in ``text``: the
    leftmost, and of two at one position the first pattern's."""
    first: re.Match[str] | None = None
    first_order = 0
    for rule in rules:
        if rule.hint is not None and rule.hint.search(text) is None:
            continue
        m = rule.pattern.search(text)
        if m is None:
            continue
        if first is None or (m.start(), rule.order) < (first.start(), first_order):
            first, first_order = m, rule.order
    return first


def card_text(card: MemoryCard) -> str:
    """The text of a card MemoryCI's scan reads: content, pattern, strategy and its steps
    (a card of ours has none), joined by spaces."""
    return f"{card.content} {card.pattern} {card.strategy} "


def unsafe(text: str, calibration: bool = False) -> str | None:
    """What in ``text`` MemoryCI's immune scan would reject, or ``None``: the check after
    redaction (``calibration``: the stricter rule for calibration cards, which may not
    carry "always" beside "high" or "10")."""
    # The words are looked for in a copy of the text with every character beyond ASCII
    # replaced by "?": they are ASCII, and lower() of such a copy takes a seventh of the
    # time (a card carries Φ, → and …). lower() turns no character beyond ASCII into ASCII
    # but these two (test_scan checks every code point), so where neither is, the words
    # lower() of the text holds are in lower() of the copy.
    plain = text if text.isascii() else text.encode("ascii", "replace").decode("ascii")
    exotic = "\u0130" in text or "\u212a" in text
    plain_lower = text.lower() if exotic else plain.lower()
    present = _WORDS.found(plain_lower)
    rules = _gated(_LOWER, present)
    if rules:
        m = _first(rules, text.lower())
        if m is not None:
            return f"text that reads as an instruction or a score rule ({m.group(0)[:40]!r})"
    rules = _gated(_CASED, present)
    if rules and _first(rules, text) is not None:
        return "a secret, an address, a path or code to run"
    if calibration and "always" in present and ("high" in present or "10" in present):
        return "'always' beside a high score"
    return None
