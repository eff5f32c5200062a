"""The tables redaction works from: what is replaced by a marker (secrets, instructions,
code), what is neutralised, and the words each rule needs before its pattern is worth running.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

__all__ = ["KINDS"]

_I: Final = re.IGNORECASE

# Long key-like strings: letters and digits mixed, 32 or more, not all hex (commit hashes
# and UUIDs are not secrets and stay).
_GENERIC: Final = re.compile(
    r"(?<![\w/+=-])(?=[A-Za-z0-9_+/=-]*[0-9])(?=[A-Za-z0-9_+/=-]*[A-Za-z])"
    r"(?![0-9a-fA-F-]{32,}(?![\w+/=]))[A-Za-z0-9_+/=-]{32,}(?![\w+/=-])"
)

# -- what is replaced by a marker, in the order applied (kind, pattern) ------------------------
_SECRETS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    (
        "key",
        re.compile(
            # Anthropic, OpenAI (sk-, sk-proj-), Hugging Face, GitHub (classic and
            # fine-grained), GitLab, Slack, Stripe, AWS access key ids, Google API keys,
            # SendGrid, npm, PyPI.
            r"\b(?:sk-ant-[A-Za-z0-9_-]{10,}|sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,}"
            r"|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}"
            r"|xox[abposr]-[A-Za-z0-9-]{10,}|[rs]k_(?:live|test)_[A-Za-z0-9]{10,}"
            r"|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|SG\.[A-Za-z0-9_-]{16,}"
            r"\.[A-Za-z0-9_-]{16,}|npm_[A-Za-z0-9]{30,}|pypi-[A-Za-z0-9_-]{30,})"
        ),
    ),
    (
        "secret",
        # A value assigned to a name that says it is secret: the value goes, the name stays.
        re.compile(
            r"(?P<name>\b[\w.-]{0,40}(?:password|passwd|pwd|secret|token|api[_-]?key|apikey"
            r"|access[_-]?key|auth|credential)s?[\"']?\s*[:=]\s*)(?P<value>[\"']?[^\s\"',;]{6,}[\"']?)",
            _I,
        ),
    ),
    ("token", _GENERIC),
    (
        "token",
        # What the scan reads as a key even inside a longer word ("task-" + 20 characters).
        re.compile(
            r"[\w-]*(?:sk-[a-zA-Z0-9]{20,}|hf_[a-zA-Z0-9]{20,}|ghp_[a-zA-Z0-9]{20,}"
            r"|AKIA[0-9A-Z]{16})[\w-]*"
        ),
    ),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    (
        "home",
        # The home directory (its owner's name) goes; the rest of the path stays.
        re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\{1,2}Users\\{1,2})[^/\\\s'\"]+"),
    ),
    ("id_number", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
)

# Sentences that address a model (or its critic) rather than describe the work: the
# sentence goes. Each pattern runs only when its words are in the text.
_INSTRUCTIONS: Final[tuple[tuple[tuple[str, ...], re.Pattern[str]], ...]] = tuple(
    (needles, re.compile(p, _I))
    for needles, p in (
        (
            ("ignore",),
            r"\bignore\s+(?:all\s+|the\s+|any\s+|your\s+)?(?:previous|prior|above|earlier|all)\b",
        ),
        (
            ("disregard",),
            r"\bdisregard\s+(?:the\s+|all\s+|any\s+|your\s+)?(?:above|previous|prior|instructions|rules)",
        ),
        (("forget",), r"\bforget\s+(?:everything|all|your)\b"),
        (("override",), r"\boverride\s+(?:your|the)\s+(?:purpose|rules|instructions|system)"),
        (("instruction",), r"\bnew\s+instructions?\s*:"),
        (
            ("<|", "inst]", "###"),
            r"<\|im_start\|>|<\|system\|>|\[/?INST\]|###\s*(?:instruction|system)",
        ),
        (
            ("are now", "now on"),
            r"\byou\s+are\s+now\s+(?:a|an|the|in|my|DAN|no\s+longer)\b|\bfrom\s+now\s+on\b",
        ),
        (("pretend", "act "), r"\b(?:pretend|act)\s+(?:to\s+be|you\s+are|as\s+(?:a|an|if))\b"),
        (
            ("prompt", "instructions"),
            r"\b(?:reveal|print|show|repeat|leak)\s+(?:your|the)\s+(?:system\s+)?(?:prompt|instructions)",
        ),
        (
            ("always", "must", "should"),
            r"\b(?:always|must|should)\s+(?:score|rate|give)\s+(?:\w+\s+)?(?:high|10|maximum|max|perfect|full)",
        ),
        (("never",), r"\bnever\s+give\s+(?:a\s+)?(?:negative|zero|low)\b"),
        (("delta",), r"\bdelta\s*(?:must|should)\s*be\s*positive"),
        (
            ("assistant", "claude", "critic", "model", " ai"),
            r"\b(?:assistant|claude|critic|model|ai)\s*[,:]\s*(?:please\s+)?(?:ignore|output|respond|reply|say|write|print|give|score|rate)\b",
        ),
    )
)

# Code that reads as a command to run: the statement (to the end of its line) goes.
_CODES: Final[tuple[tuple[tuple[str, ...], re.Pattern[str]], ...]] = tuple(
    (needles, re.compile(p + r"[^\n]*"))
    for needles, p in (
        (("rm ", "rm\t"), r"rm\s+-[a-zA-Z]*[rf][a-zA-Z]*\s+[/~]"),
        (("os.",), r"os\.system\s*\("),
        (("subprocess",), r"subprocess\s*\.\s*(?:call|run|Popen|check_output|check_call)"),
        (("__import__",), r"__import__\s*\("),
        (("eval", "exec"), r"(?<![\w.`])(?:eval|exec)\s*\("),
        (("shutil",), r"\bshutil\.rmtree"),
        (("open",), r"\bopen\s*\(\s*['\"]/(?:etc|proc|sys|dev)"),
        (("curl", "wget"), r"\b(?:curl|wget)\s+[^\n]*\|\s*(?:ba|z)?sh"),
        (
            ("chmod", "mkfs", ":()"),
            r"\bchmod\s+[0-7]*7[0-7]*\s+/|\bmkfs(?:\.\w+)?\s|:\(\)\s*\{\s*:\|:&\s*\};:",
        ),
    )
)

# -- what keeps its meaning and loses the form that reads as a trigger -------------------------
_Repl = str | Callable[[re.Match[str]], str]
_NEUTRAL: Final[tuple[tuple[tuple[str, ...], re.Pattern[str], _Repl], ...]] = (
    # A role tag in a log line: "system: query timed out" -> "[system] query timed out".
    (("system",), re.compile(r"(\w*system)\s*:\s*", _I), lambda m: f"[{m.group(1)}] "),
    # "you are now connected" is a status, not a role assignment.
    (
        ("are now",),
        re.compile(r"\b(you)\s+(are)\s+(now)\b", _I),
        lambda m: f"{m.group(1)}'re {m.group(3)}",
    ),
    # Metrics written as assignments: "confidence=1.0", "phi = 10".
    (
        ("confidence", "phi", "φ"),
        re.compile(r"(confidence|phi|Φ)\s*=\s*(?=\d)", _I),
        lambda m: f"{m.group(1)} ",
    ),
    # A method or an identifier that ends in eval/exec, called ("model.eval()",
    # "retrieval(q)"): quoted, so it reads as a name (a bare eval( call went as code).
    (
        ("eval", "exec"),
        re.compile(r"(\w*(?:eval|exec))(\s*\()"),
        lambda m: f"`{m.group(1)}`{m.group(2)}",
    ),
    # "ignore" and "instructions" on one line read as an override; the words change.
    (("instructions",), re.compile(r"\binstructions\b", _I), "directions"),
    (("ignore",), re.compile(r"\bignore\b", _I), "skip"),
    (("disregard",), re.compile(r"\bdisregard\b", _I), "set aside"),
    (("forget",), re.compile(r"\bforget\b", _I), "drop"),
    # A calibration card with "always" and "high" or "10" reads as forcing high scores.
    (("always",), re.compile(r"always", _I), "every time"),
)

#: Every kind a redaction is counted under (``neutralised`` is a form changed, not text lost).
KINDS: Final = tuple(
    dict.fromkeys((*(k for k, _ in _SECRETS), "instruction", "code", "neutralised"))
)

# What each rule needs to find in the lower-cased text before its pattern is worth running:
# substring tests are a small fraction of a regular expression's pass over the text.
_NEEDLES: Final[dict[str, tuple[str, ...]]] = {
    "private_key": ("-----begin",),
    "jwt": ("eyj",),
    "key": (
        "sk-",
        "hf_",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "_pat_",
        "glpat-",
        "xox",
        "k_live_",
        "k_test_",
        "akia",
        "asia",
        "aiza",
        "sg.",
        "npm_",
        "pypi-",
    ),
    "secret": ("passw", "pwd", "secret", "token", "api", "access", "auth", "credential"),
    "token": ("sk-", "hf_", "ghp_", "akia"),
    "email": ("@",),
    "home": ("/home/", "/users/", "\\users\\"),
    "id_number": ("-",),  # and _SSN_HINT
}
_LONG_RUN: Final = re.compile(r"[A-Za-z0-9_+/=-]{32,}")
_SENTENCE_END: Final = re.compile(r"[.!?\n]")


_SSN_HINT: Final = re.compile(r"\d{3}-\d{2}-")


def _words() -> tuple[str, ...]:
    words = {n for ns in _NEEDLES.values() for n in ns if n != "-"}
    words |= {n for ns, _ in _INSTRUCTIONS for n in ns}
    words |= {n for ns, _ in _CODES for n in ns}
    words |= {n for ns, _, _ in _NEUTRAL for n in ns}
    return tuple(sorted(words))


# Every rule's words (substring tests on the lower-cased text: several times cheaper than one
# pattern of them all), and the two shapes that need no word.
_WORDS: Final = _words()
