"""The two value schemas of the contract, loaded from the ``.avsc`` files."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

TRACE_EVENT = "trace_event.avsc"
MEMORY_CARD = "memory_card.avsc"
#: The card subject's compatibility level: version 1 and version 2 readers read cards of
#: either version (each version only adds optional fields with defaults).
MEMORY_CARD_COMPATIBILITY = "FULL"


def _schema_dir() -> Path:
    # An installed wheel carries a copy in consumer/_schemas; a checkout (and an editable
    # install) reads the repository's schemas/ folder, the one other teams see.
    packaged = Path(str(resources.files("consumer"))) / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


@cache
def text(name: str) -> str:
    """The schema file's text, exactly as registered."""
    return (_schema_dir() / name).read_text(encoding="utf-8")


def parsed_json(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(text(name))
    return loaded


def subject(topic: str) -> str:
    """Subject naming by topic, as the contract says (``<topic>-value``)."""
    return f"{topic}-value"
