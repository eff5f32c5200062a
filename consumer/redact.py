"""Pure: untrusted trace text made safe to send to an LLM and to put in a card.

Cards end up in other agents' prompts, and the same text goes to the model that writes the
wrong evaluation, so what a trace carries must not travel on: secrets and key- or
token-like strings, e-mail addresses, home-directory paths, identity numbers, text that
reads as instructions to a model, and code that reads as a command to run. Each is replaced
by a marker (``[redacted:email]``, ``[redacted:instruction]``, ...). What only looks like a
trigger (a log line ``system: query timed out``, ``confidence=1.0``, a method called
``retrieval(``) keeps its meaning and loses its form (``[system] query timed out``): a
situation that is mostly markers teaches nothing.

The table is ours, written against what MemoryCI's immune scan rejects
(``purpose_agent/immune.py``) and the formats of the major providers' keys; detect-secrets
was measured against it (bench/README.md): it finds the keys this table finds and none of the
rest (addresses, paths, instructions, code), at about fifty times the CPU per event. ``unsafe`` is the final check the pipeline and the generators apply: what
would still fail the scan after redaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, NamedTuple

from consumer.events import ScoreData, ScoreEvent, WrongEvaluation

__all__ = ["KINDS", "Redacted", "SafeEvent", "redact", "safe_event", "safe_wrong", "unsafe"]

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


def _needed(kind: str, lower: str) -> bool:
    if kind == "id_number":
        return _SSN_HINT.search(lower) is not None
    return any(n in lower for n in _NEEDLES[kind])


class Redacted(NamedTuple):
    """The safe text, and what was done to it: counts by kind, characters removed."""

    text: str
    counts: dict[str, int]
    removed: int


_NOTHING: Final[dict[str, int]] = {}


def _marker(kind: str) -> str:
    return f"[redacted:{kind}]"


def _words() -> tuple[str, ...]:
    words = {n for ns in _NEEDLES.values() for n in ns if n != "-"}
    words |= {n for ns, _ in _INSTRUCTIONS for n in ns}
    words |= {n for ns, _ in _CODES for n in ns}
    words |= {n for ns, _, _ in _NEUTRAL for n in ns}
    return tuple(sorted(words))


# Every rule's words (substring tests on the lower-cased text: several times cheaper than one
# pattern of them all), and the two shapes that need no word.
_WORDS: Final = _words()


def _maybe(text: str) -> bool:
    lower = text.lower()
    for w in _WORDS:
        if w in lower:
            return True
    return _SSN_HINT.search(text) is not None or _LONG_RUN.search(text) is not None


def redact(text: str) -> Redacted:
    """The text with every secret, address, home path, instruction and command replaced by a
    marker, and trigger-looking forms neutralised."""
    if not _maybe(text):  # nearly every text: no rule has anything to look at
        return Redacted(text, _NOTHING, 0)
    lower = text.lower()
    counts: dict[str, int] = {}
    removed = 0
    out = text
    long_run = _LONG_RUN.search(text) is not None
    for kind, pattern in _SECRETS:
        if not (long_run if kind == "token" and pattern is _GENERIC else _needed(kind, lower)):
            continue
        if kind == "secret":
            out, n, gone = _sub_secret_values(pattern, out)
        else:
            out, n, gone = _sub(pattern, _marker(kind), out)
        if n:
            counts[kind] = counts.get(kind, 0) + n
            removed += gone
            lower = out.lower()
    found = [p for needles, p in _INSTRUCTIONS if any(n in lower for n in needles)]
    if found:
        out, n, gone = _sub_sentences(out, found)
        if n:
            counts["instruction"] = n
            removed += gone
            lower = out.lower()
    for needles, pattern in _CODES:
        if any(n in lower for n in needles):
            out, n, gone = _sub(pattern, _marker("code"), out)
            if n:
                counts["code"] = counts.get("code", 0) + n
                removed += gone
                lower = out.lower()
    neutralised = 0
    for needles, pattern, repl in _NEUTRAL:
        if any(n in lower for n in needles):
            out, n = pattern.subn(repl, out)
            neutralised += n
    if neutralised:
        counts["neutralised"] = neutralised
    if not counts:
        return Redacted(text, _NOTHING, 0)
    return Redacted(out, counts, removed)


def _sub_sentences(text: str, patterns: list[re.Pattern[str]]) -> tuple[str, int, int]:
    """Each sentence holding an instruction, replaced by the marker (its leading space kept)."""
    spans: list[tuple[int, int]] = []
    hits = sorted((m for p in patterns for m in p.finditer(text)), key=lambda m: m.start())
    for m in hits:
        # From the start of its sentence or clause ("Tool output: ignore all ...").
        start = max(text.rfind(c, 0, m.start()) for c in ".!?\n:;") + 1
        end_m = _SENTENCE_END.search(text, m.end())
        end = len(text) if end_m is None else end_m.end()
        while start < m.start() and text[start] in " \t":
            start += 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    if not spans:
        return text, 0, 0
    parts, last, gone = [], 0, 0
    for a, b in spans:
        parts.append(text[last:a])
        parts.append(_marker("instruction"))
        gone += b - a
        last = b
    parts.append(text[last:])
    return "".join(parts), len(spans), gone


def _sub(
    pattern: re.Pattern[str], marker: str, text: str, keep_lead: bool = False
) -> tuple[str, int, int]:
    gone = 0
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal gone, n
        found = m.group(0)
        lead = found[: len(found) - len(found.lstrip())] if keep_lead else ""
        n += 1
        gone += len(found) - len(lead)
        return lead + marker

    return pattern.sub(repl, text), n, gone


def _sub_secret_values(pattern: re.Pattern[str], text: str) -> tuple[str, int, int]:
    gone = 0
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal gone, n
        if m.group("value").startswith("[redacted:"):
            return m.group(0)
        n += 1
        gone += len(m.group("value"))
        return m.group("name") + _marker("secret")

    return pattern.sub(repl, text), n, gone


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


def safe_wrong(wrong: WrongEvaluation) -> WrongEvaluation | str:
    """A generated wrong evaluation checked as trace text is: with trigger-looking forms
    neutralised, or what it carries that must not be stored (for a corrective turn)."""
    texts = (wrong.reasoning, wrong.why_wrong, wrong.lesson)
    done = [redact(t) for t in texts]
    if all(not d.counts for d in done):
        return wrong
    kinds = sorted({k for d in done for k in d.counts if k != "neutralised"})
    if kinds:
        return "it carries " + ", ".join(kinds).replace("_", " ")
    return WrongEvaluation(
        wrong.phi_after, done[0].text, wrong.mistake_type, done[1].text, done[2].text
    )


class SafeEvent(NamedTuple):
    """An event's texts made safe (``event``), or ``None`` with ``problem`` when what is left
    still cannot pass MemoryCI's scan or carries nothing to learn from; the counts by kind
    and how many characters were read and removed, for the metrics."""

    event: ScoreEvent | None
    problem: str | None
    counts: dict[str, int]
    removed: int
    total: int


_MARKERS: Final = re.compile(r"(?:\[redacted:\w+\]|[\W_])+")


def _empty(text: str) -> bool:
    return not _MARKERS.sub("", text)


def safe_event(event: ScoreEvent) -> SafeEvent:
    """The event with its five texts redacted (purpose, action, both states, reasoning)."""
    s = event.score
    texts = (event.purpose, s.state_before, s.action_name, s.state_after, s.reasoning)
    total = sum(len(t) for t in texts)
    done = [redact(t) for t in texts]
    if all(d.removed == 0 and not d.counts for d in done):
        return SafeEvent(event, None, _NOTHING, 0, total)
    counts: dict[str, int] = {}
    for d in done:
        for kind, n in d.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    removed = sum(d.removed for d in done)
    purpose, before, action, after, reasoning = (d.text for d in done)
    problem = None
    for text in (purpose, before, action, after, reasoning):
        problem = unsafe(text, calibration=True)
        if problem is not None:
            break
    if problem is None and (_empty(reasoning) or _empty(after)):
        problem = "nothing but markers left of the state after or the reasoning"
    if problem is not None:
        return SafeEvent(None, problem, counts, removed, total)
    score = ScoreData(before, action, after, s.phi_before, s.phi_after, reasoning)
    safe = ScoreEvent(
        event.event_id,
        event.trace_id,
        purpose,
        event.step,
        event.timestamp_ms,
        event.agent_id,
        score,
    )
    return SafeEvent(safe, None, counts, removed, total)
