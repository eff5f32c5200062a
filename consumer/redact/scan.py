"""Pure: the check that a text is safe to publish, a mirror of MemoryCI's immune scan."""

from __future__ import annotations

import re
from typing import Final

from consumer.redact.patterns import _SSN_HINT

__all__ = ["unsafe"]

# -- the final check: what MemoryCI's immune scan (purpose_agent/immune.py) rejects ------------
_SCAN_LOWER: Final = tuple(
    re.compile(p)
    for p in (
        # prompt injection
        r"ignore\s+(previous|above|all)(\s+\w+)*\s*(instructions|prompts|rules)",
        r"you\s+are\s+now\s+",
        r"system\s*:\s*",
        r"<\|im_start\|>",
        r"<\|system\|>",
        r"\[inst\]",
        r"###\s*(instruction|system)",
        r"forget\s+(everything|all|your)",
        r"override\s+(your|the)\s+(purpose|rules|instructions)",
        r"new\s+instructions?\s*:",
        r"disregard\s+(the\s+)?(above|previous)",
        r"ignore\s+.*\binstructions\b",
        # score manipulation
        r"(always|must)\s+(score|rate|give)\s+(high|10|maximum|perfect)",
        r"φ\s*=\s*10",
        r"phi\s*=\s*10",
        r"delta\s*(must|should)\s*be\s*positive",
        r"never\s+give\s+(negative|zero|low)\s+(score|delta|rating)",
        r"confidence\s*=\s*1\.0",
    )
)
_SCAN_CASED: Final = tuple(
    re.compile(p)
    for p in (
        # tool misuse (case-sensitive, as the scan is)
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
        # privacy leaks
        r"sk-[a-zA-Z0-9]{20,}",
        r"hf_[a-zA-Z0-9]{20,}",
        r"ghp_[a-zA-Z0-9]{20,}",
        r"AKIA[0-9A-Z]{16}",
        r"\b\d{3}-\d{2}-\d{4}\b",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b",
        r"/home/[a-zA-Z0-9]+/",
        r"C:\\Users\\[a-zA-Z0-9]+\\",
    )
)


# Each table as one alternation: one pass over the text instead of one per pattern.
_ANY_LOWER: Final = re.compile("|".join(f"(?:{p.pattern})" for p in _SCAN_LOWER))
_ANY_CASED: Final = re.compile("|".join(f"(?:{p.pattern})" for p in _SCAN_CASED))


# The words (lower-cased) without which no pattern of each table can match.
_SCAN_LOWER_NEEDLES: Final = (
    "ignore",
    "are now",
    "system",
    "<|",
    "[inst]",
    "###",
    "forget",
    "override",
    "instruction",
    "disregard",
    "always",
    "must",
    "φ",
    "phi",
    "delta",
    "never",
    "confidence",
)
_SCAN_CASED_NEEDLES: Final = (
    "-rf",
    "os.",
    "subprocess",
    "__import__",
    "eval",
    "exec",
    "shutil",
    "('/",
    '("/',
    "curl",
    "wget",
    "sk-",
    "hf_",
    "ghp_",
    "akia",
    "@",
    "/home/",
    "c:\\users",
)


def unsafe(text: str, calibration: bool = False) -> str | None:
    """What in ``text`` MemoryCI's immune scan would reject, or ``None``: the check after
    redaction (``calibration``: the stricter rule for calibration cards, which may not
    carry "always" beside "high" or "10")."""
    lower = text.lower()
    if any(n in lower for n in _SCAN_LOWER_NEEDLES):
        m = _ANY_LOWER.search(lower)
        if m:
            return f"text that reads as an instruction or a score rule ({m.group(0)[:40]!r})"
    if any(n in lower for n in _SCAN_CASED_NEEDLES) or _SSN_HINT.search(text):
        m = _ANY_CASED.search(text)
        if m:
            return "a secret, an address, a path or code to run"
    if calibration and "always" in lower and ("high" in lower or "10" in lower):
        return "'always' beside a high score"
    return None
