"""The tables redaction works from: what is replaced by a marker (secrets, instructions,
code), what is neutralised, and each rule's gate: what its pattern cannot match without.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, NamedTuple

__all__ = ["KINDS"]

_I: Final = re.IGNORECASE


class Gate(NamedTuple):
    """When a rule's pattern is worth running: one of ``chars`` is in the text (when there are
    any; characters the pattern cannot match without) and one of ``words`` is in the
    lower-cased text. Substring tests are a small fraction of a pattern's pass over the text,
    and a one-character test a tenth of a word's, so the characters go first."""

    chars: tuple[str, ...]
    words: tuple[str, ...]


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
# sentence goes. Each pattern runs only when its gate passes (see _Gate below).
_INSTRUCTIONS: Final[tuple[tuple[Gate, re.Pattern[str]], ...]] = tuple(
    (Gate(chars, needles), re.compile(p, _I))
    for chars, needles, p in (
        (
            (),
            ("ignore",),
            r"\bignore\s+(?:all\s+|the\s+|any\s+|your\s+)?(?:previous|prior|above|earlier|all)\b",
        ),
        (
            (),
            ("disregard",),
            r"\bdisregard\s+(?:the\s+|all\s+|any\s+|your\s+)?(?:above|previous|prior|instructions|rules)",
        ),
        ((), ("forget",), r"\bforget\s+(?:everything|all|your)\b"),
        ((), ("override",), r"\boverride\s+(?:your|the)\s+(?:purpose|rules|instructions|system)"),
        ((":",), ("instruction",), r"\bnew\s+instructions?\s*:"),
        (
            ("|", "]", "#"),
            ("<|", "inst]", "###"),
            r"<\|im_start\|>|<\|system\|>|\[/?INST\]|###\s*(?:instruction|system)",
        ),
        (
            (),
            ("are now", "now on"),
            r"\byou\s+are\s+now\s+(?:a|an|the|in|my|DAN|no\s+longer)\b|\bfrom\s+now\s+on\b",
        ),
        ((), ("pretend", "act "), r"\b(?:pretend|act)\s+(?:to\s+be|you\s+are|as\s+(?:a|an|if))\b"),
        (
            (),
            ("prompt", "instructions"),
            r"\b(?:reveal|print|show|repeat|leak)\s+(?:your|the)\s+(?:system\s+)?(?:prompt|instructions)",
        ),
        (
            (),
            ("always", "must", "should"),
            r"\b(?:always|must|should)\s+(?:score|rate|give)\s+(?:\w+\s+)?(?:high|10|maximum|max|perfect|full)",
        ),
        ((), ("never",), r"\bnever\s+give\s+(?:a\s+)?(?:negative|zero|low)\b"),
        ((), ("delta",), r"\bdelta\s*(?:must|should)\s*be\s*positive"),
        (
            (",", ":"),
            ("assistant", "claude", "critic", "model", " ai"),
            r"\b(?:assistant|claude|critic|model|ai)\s*[,:]\s*(?:please\s+)?(?:ignore|output|respond|reply|say|write|print|give|score|rate)\b",
        ),
    )
)

# Code that reads as a command to run: the statement (to the end of its line) goes.
_CODES: Final[tuple[tuple[Gate, re.Pattern[str]], ...]] = tuple(
    (Gate(chars, needles), re.compile(p + r"[^\n]*"))
    for chars, needles, p in (
        (("-",), ("rm ", "rm\t"), r"rm\s+-[a-zA-Z]*[rf][a-zA-Z]*\s+[/~]"),
        (("(",), ("os.",), r"os\.system\s*\("),
        ((".",), ("subprocess",), r"subprocess\s*\.\s*(?:call|run|Popen|check_output|check_call)"),
        (("(",), ("__import__",), r"__import__\s*\("),
        (("(",), ("eval", "exec"), r"(?<![\w.`])(?:eval|exec)\s*\("),
        ((".",), ("shutil",), r"\bshutil\.rmtree"),
        (("/",), ("open",), r"\bopen\s*\(\s*['\"]/(?:etc|proc|sys|dev)"),
        (("|",), ("curl", "wget"), r"\b(?:curl|wget)\s+[^\n]*\|\s*(?:ba|z)?sh"),
        (
            (),
            ("chmod", "mkfs", ":()"),
            r"\bchmod\s+[0-7]*7[0-7]*\s+/|\bmkfs(?:\.\w+)?\s|:\(\)\s*\{\s*:\|:&\s*\};:",
        ),
    )
)

# -- what keeps its meaning and loses the form that reads as a trigger -------------------------
_Repl = str | Callable[[re.Match[str]], str]
_NEUTRAL: Final[tuple[tuple[Gate, re.Pattern[str], _Repl], ...]] = (
    # A role tag in a log line: "system: query timed out" -> "[system] query timed out".
    (
        Gate((":",), ("system",)),
        re.compile(r"(\w*system)\s*:\s*", _I),
        lambda m: f"[{m.group(1)}] ",
    ),
    # "you are now connected" is a status, not a role assignment.
    (
        Gate((), ("are now",)),
        re.compile(r"\b(you)\s+(are)\s+(now)\b", _I),
        lambda m: f"{m.group(1)}'re {m.group(3)}",
    ),
    # Metrics written as assignments: "confidence=1.0", "phi = 10".
    (
        Gate(("=",), ("confidence", "phi", "φ")),
        re.compile(r"(confidence|phi|Φ)\s*=\s*(?=\d)", _I),
        lambda m: f"{m.group(1)} ",
    ),
    # A method or an identifier that ends in eval/exec, called ("model.eval()",
    # "retrieval(q)"): quoted, so it reads as a name (a bare eval( call went as code).
    (
        Gate(("(",), ("eval", "exec")),
        re.compile(r"(\w*(?:eval|exec))(\s*\()"),
        lambda m: f"`{m.group(1)}`{m.group(2)}",
    ),
    # "ignore" and "instructions" on one line read as an override; the words change.
    (Gate((), ("instructions",)), re.compile(r"\binstructions\b", _I), "directions"),
    (Gate((), ("ignore",)), re.compile(r"\bignore\b", _I), "skip"),
    (Gate((), ("disregard",)), re.compile(r"\bdisregard\b", _I), "set aside"),
    (Gate((), ("forget",)), re.compile(r"\bforget\b", _I), "drop"),
    # A calibration card with "always" and "high" or "10" reads as forcing high scores.
    (Gate((), ("always",)), re.compile(r"always", _I), "every time"),
)

#: Every kind a redaction is counted under (``neutralised`` is a form changed, not text lost).
KINDS: Final = tuple(
    dict.fromkeys((*(k for k, _ in _SECRETS), "instruction", "code", "neutralised"))
)

# The secrets' gates, by kind: the pattern runs when one of them opens ("token": the second
# token pattern; the first, _GENERIC, needs a long run, and "id_number" the shape of one, see
# text.py). A key's formats each have "-", "_", "." or a capital A (AKIA, ASIA, AIza).
_SECRET_GATES: Final[dict[str, tuple[Gate, ...]]] = {
    "private_key": (Gate(("-",), ("-----begin",)),),
    "jwt": (Gate((".",), ("eyj",)),),
    "key": (
        Gate(("-",), ("sk-", "glpat-", "xox", "pypi-")),
        Gate(
            ("_",),
            ("hf_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "_pat_", "k_live_", "k_test_", "npm_"),
        ),
        Gate((".",), ("sg.",)),
        Gate(("A",), ("akia", "asia", "aiza")),
    ),
    "secret": (
        Gate(
            (":", "="), ("passw", "pwd", "secret", "token", "api", "access", "auth", "credential")
        ),
    ),
    "token": (Gate(("-",), ("sk-",)), Gate(("_",), ("hf_", "ghp_")), Gate(("A",), ("akia",))),
    "email": (Gate((), ("@",)),),
    "home": (Gate(("/", "\\"), ("/home/", "/users/", "\\users\\")),),
}
_SENTENCE_END: Final = re.compile(r"[.!?\n]")

# The shape of an identity number's start, searched only where "-", two digits and "-" are.
_SSN_HINT: Final = re.compile(r"\d{3}-\d{2}-")
_SSN_DASHES: Final = re.compile(r"-\d\d-")


def _gates() -> tuple[Gate, ...]:
    """Every rule's gate, each once, rules with the same characters merged."""
    by_chars: dict[tuple[str, ...], dict[str, None]] = {}
    every = (
        *(g for gates in _SECRET_GATES.values() for g in gates),
        *(g for g, _ in _INSTRUCTIONS),
        *(g for g, _ in _CODES),
        *(g for g, _, _ in _NEUTRAL),
    )
    for gate in every:
        by_chars.setdefault(gate.chars, {}).update(dict.fromkeys(gate.words))
    return tuple(Gate(chars, tuple(words)) for chars, words in by_chars.items())


#: What any rule needs (besides the two shapes, a long run and an identity number's).
GATES: Final = _gates()

# A long run of _GENERIC's characters, found in the text's UTF-8 bytes: every such character
# is one byte there and every other character's bytes are not one of them, so a run of 32
# bytes mapped to "x" is a run of 32 characters (a search of [A-Za-z0-9_+/=-]{32,} tried every
# position of the text, a tenth of a microsecond per character).
_RUN_CHARS: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/=-"
)
_RUN_TABLE: Final = bytes(0x78 if b in _RUN_CHARS else 0x20 for b in range(256))
_RUN: Final = b"x" * 32
