"""The container image's recipe, checked without a Docker engine.

The Dockerfile is parsed with BuildKit's own parser (the ``dockerfile`` package): its build
stage must build and install the wheel that pyproject.toml defines, from files the build
context (.dockerignore) lets through; the final stage must run the console script as a
non-root user, with no compiler and no shell in between. The wheel is then really built from
exactly that context.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from consumer import build
from consumer import settings as service_settings
from consumer.commands import cli
from tests.deploy import ROOT, chart_values, tools

pytestmark = pytest.mark.timeout(1800)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
WHEEL_TARGET = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
COMPILERS = ("gcc", "g++", "clang", "build-essential", "python3-dev", "libc6-dev", "cython")


@dataclass
class Instruction:
    cmd: str
    value: tuple[str, ...]
    flags: tuple[str, ...]
    exec_form: bool


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]

    def text(self, cmd: str) -> str:
        return " ".join(" ".join(i.value) for i in self.all(cmd))


@functools.cache
def _stages() -> list[Stage]:
    tools()  # installs the parser on first use
    parser = importlib.import_module("dockerfile")
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for c in parser.parse_file(str(ROOT / "Dockerfile")):
        if c.cmd == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], c.value[0])
            name = c.value[2] if len(c.value) == 3 and c.value[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif not stages:
            assert c.cmd == "ARG", f"only ARG may come before the first FROM, not {c.cmd}"
            key, _, default = c.value[0].partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append(
                Instruction(c.cmd, tuple(c.value), tuple(c.flags), bool(c.json))
            )
    return stages


def _build() -> Stage:
    return _stages()[0]


def _final() -> Stage:
    return _stages()[-1]


def _env(stage: Stage) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in stage.all("ENV"):
        out.update(zip(i.value[::2], i.value[1::2], strict=True))
    return out


def _copied_sources(stage: Stage) -> list[str]:
    out = []
    for i in stage.all("COPY"):
        if not any(f.startswith("--from=") for f in i.flags):
            out += [v.rstrip("/") for v in i.value[:-1]]
    return out


def _dockerignore() -> list[tuple[bool, re.Pattern[str], str]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pat = raw.strip()
        if pat and not pat.startswith("#"):
            negate = pat.startswith("!")
            body = pat.lstrip("!").strip("/")
            rules.append((negate, _pattern(body), body))
    return rules


def _pattern(pat: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go's filepath.Match, plus ``**`` for any dirs)."""
    out, i = "", 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pat.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pat[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pat[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pat[i]), i + 1
    return re.compile(out)


def _dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent directories,
    decides; ``!`` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, rx, _ in _dockerignore():
        if any(rx.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


def _context_files() -> list[Path]:
    """The files the build context holds (what `docker build .` would send)."""
    reincluded = [body for negate, _, body in _dockerignore() if negate]
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = Path(dirpath).relative_to(ROOT).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        # Do not descend into excluded directories that no `!` pattern reaches into.
        dirnames[:] = [
            d
            for d in dirnames
            if not _dockerignore_excludes(rel_dir + d)
            or any(b.startswith(rel_dir + d + "/") for b in reincluded)
        ]
        out += [Path(dirpath) / f for f in filenames if not _dockerignore_excludes(rel_dir + f)]
    return out


def test_stages_on_a_slim_python_base() -> None:
    stages = _stages()
    assert len(stages) >= 2, "a multi-stage build"
    for stage in stages:
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", stage.base), stage.base
    found = re.search(r"python:(\d+)\.(\d+)", _final().base)
    needed = re.search(r">=\s*(\d+)\.(\d+)", PROJECT["requires-python"])
    assert found and needed
    assert tuple(map(int, found.groups())) >= tuple(map(int, needed.groups()))


def test_build_stage_builds_the_wheel_pyproject_defines() -> None:
    build = _build()
    copied = set(_copied_sources(build))
    needed = {
        "pyproject.toml",
        PROJECT["readme"],
        *WHEEL_TARGET["packages"],
        *WHEEL_TARGET["force-include"],
    }
    assert needed <= copied, f"the build stage does not copy {needed - copied}"
    runs = build.text("RUN")
    wheel = re.search(r"pip wheel --no-deps --wheel-dir (\S+) \.(\s|$)", runs)
    assert wheel, "the build stage builds no wheel from the project (.)"
    dist = re.sub(r"[-_.]+", "_", PROJECT["name"]).lower()
    install = rf"pip install --only-binary=:all: {re.escape(wheel.group(1))}/{dist}-\*\.whl"
    assert re.search(install, runs), f"the build stage does not install {dist}-*.whl"


def test_build_stage_compiles_the_hot_path() -> None:
    # The mypyc hook is off by default (pip install . stays pure Python); the image opts in,
    # and needs a C compiler for it, in the build stage only.
    assert _env(_build()).get("HATCH_BUILD_HOOKS_ENABLE") == "1"
    runs = _build().text("RUN")
    assert re.search(r"apt-get install .*\bgcc\b", runs), "no C compiler for mypyc"


def test_final_stage_copies_the_install_and_builds_nothing() -> None:
    build, final = _build(), _final()
    copies = [i for i in final.all("COPY") if f"--from={build.name}" in i.flags]
    assert copies, "nothing copied from the build stage"
    venv = re.search(r"python -m venv (\S+)", build.text("RUN"))
    assert venv and any(i.value[0] == venv.group(1) for i in copies)
    runs = final.text("RUN").lower()
    assert "pip install" not in runs and "apt-get" not in runs and "apk " not in runs
    assert not [c for c in COMPILERS if c in runs], runs
    assert not _copied_sources(final), "the final stage takes nothing from the context"


def test_runs_the_console_script_as_non_root_with_signals_direct() -> None:
    final = _final()
    (user,) = final.all("USER")
    uid, _, gid = user.value[0].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    pod = chart_values()["podSecurityContext"]
    assert int(uid) == pod["runAsUser"] and int(gid) == pod["runAsGroup"]
    (entrypoint,) = final.all("ENTRYPOINT")
    (cmd,) = final.all("CMD")
    # Exec form: no /bin/sh -c between the kubelet's SIGTERM and the service.
    assert entrypoint.exec_form and cmd.exec_form
    argv = [*entrypoint.value, *cmd.value]
    assert argv == ["selftaught", "run"]
    assert PROJECT["scripts"][argv[0]] == "consumer.commands.cli:main"
    assert cli._parser().parse_args(argv[1:]).command == "run"
    assert [i.value for i in final.all("STOPSIGNAL")] in ([], [("SIGTERM",)])
    env = _env(final)
    assert env["PATH"].startswith(venv_bin := "/opt/selftaught/bin"), env
    assert venv_bin.rsplit("/", 1)[0] in _build().text("RUN")


def test_exposes_the_metrics_port() -> None:
    (port,) = _final().all("EXPOSE")
    assert int(port.value[0]) == service_settings.Settings.model_fields["http_port"].default
    assert int(port.value[0]) == chart_values()["config"]["httpPort"]


def test_dockerignore_lets_through_what_the_build_copies_and_nothing_else() -> None:
    for src in _copied_sources(_build()):
        assert not _dockerignore_excludes(src), f".dockerignore excludes {src}"
    for private in (
        ".git/config",
        ".venv/bin/python",
        ".stack/logs/kafka.log",
        ".env",
        "tests/unit/test_cards.py",
        "deploy/local/stack.sh",
        "consumer/__pycache__/cli.cpython-311.pyc",
        "consumer/wire/avro.cpython-311-x86_64-linux-gnu.so",
    ):
        assert _dockerignore_excludes(private), f".dockerignore lets {private} into the context"


def test_the_wheel_builds_from_the_build_context(tmp_path: Path) -> None:
    """Build the wheel as the build stage does (its environment, so the hot path compiled),
    from the files the context holds."""
    ctx = tmp_path / "ctx"
    for f in _context_files():
        dst = ctx / f.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dst)
    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), "."],
        cwd=ctx,
        env={**os.environ, **_env(_build())},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    dist = re.sub(r"[-_.]+", "_", PROJECT["name"]).lower()
    (wheel,) = wheels.glob(f"{dist}-{PROJECT['version']}-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "selftaught = consumer.commands.cli:main" in zf.read(entry_points).decode()
    for schema in (ROOT / "schemas").glob("*.avsc"):
        assert f"consumer/_schemas/{schema.name}" in names
    assert "consumer/commands/cli.py" in names and "consumer/samples/traces.jsonl" in names
    assert not [n for n in names if "__pycache__" in n]
    # Each hot module as an extension module for this interpreter, beside its .py, and the
    # mypyc runtime they share: a platform wheel, not a pure one.
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for module in build.HOT_MODULES:
        path = module.replace(".", "/")
        assert f"{path}{suffix}" in names and f"{path}.py" in names, module
    assert [n for n in names if "/" not in n and n.endswith(f"__mypyc{suffix}")]
    assert "-none-any.whl" not in wheel.name
