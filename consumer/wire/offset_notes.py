"""Pure: one partition's committed offset metadata, shared by the owners of state kept there.

Two stages keep state with the offsets, so that it is committed in the same transaction as
the outcomes it describes and follows its partition to the next owner: the selection's pair
budget (what each hour spent, ``consumer/selection/ledger.py``) and the judge's curriculum
(the subtlety levels, ``consumer/judge/curriculum.py``). A partition's offset has one
metadata string, so each owner writes a section of it: ``join`` puts the sections together,
one per line, and ``section`` finds an owner's by the tag its text starts with. Neither
owner's text holds a line break (the budget is digits, ``:`` and ``,``; the levels are
compact JSON, which escapes one), and a section whose tag nobody asks for is passed over,
so an owner added later, or one switched off, disturbs no other. A string written before
there were sections is a single section and reads as before.

The broker refuses a commit whose metadata is longer than its ``offset.metadata.max.bytes``
(4096 by default) with OFFSET_METADATA_TOO_LARGE, and a refused offset commit would abort
every transaction from then on. Both sections are bounded far below it (the budget keeps
four hours, some 60 bytes; the levels about 150 bytes), so ``join`` never reaching the limit
is the expected case; should it, a section that does not fit after those given before it is
left out and logged: that owner's state is then not committed with this offset (its next
owner resumes from what was committed before), and the offsets still are. The budget is
given first, as losing it could spend an hour twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

__all__ = ["MAX_BYTES", "SEPARATOR", "join", "section"]

log = logging.getLogger(__name__)

#: Between sections: a character no owner's text contains.
SEPARATOR: Final = "\n"
#: The broker's default ``offset.metadata.max.bytes``.
MAX_BYTES: Final = 4096


def join(sections: Iterable[str | None]) -> str | None:
    """The sections (``None``: that owner has nothing to write) as one metadata string;
    ``None`` when there is none. Sections past ``MAX_BYTES`` are left out."""
    kept: list[str] = []
    size = 0
    for text in sections:
        if text is None:
            continue
        if SEPARATOR in text:
            raise ValueError(f"an offset note section holds its separator: {text[:40]!r}")
        grows = len(text.encode()) + (len(SEPARATOR) if kept else 0)
        if size + grows > MAX_BYTES:
            log.warning(
                "offset metadata over %d bytes: a section of %d bytes left out (%r...)",
                MAX_BYTES,
                len(text.encode()),
                text[:30],
            )
            continue
        kept.append(text)
        size += grows
    return SEPARATOR.join(kept) if kept else None


def section(metadata: str | None, tag: str) -> str | None:
    """The section of ``metadata`` that starts with ``tag``, whole (tag included); ``None``
    when there is none."""
    if not metadata:
        return None
    for text in metadata.split(SEPARATOR):
        if text.startswith(tag):
            return text
    return None
