"""One partition's offset metadata shared by the pair budget and the curriculum."""

from __future__ import annotations

import pytest

from consumer.events import MistakeType
from consumer.judge import curriculum
from consumer.judge.curriculum import DifficultyCurriculum
from consumer.selection import ledger
from consumer.wire import offset_notes

SYC, DRIFT = MistakeType.SYCOPHANCY, MistakeType.PURPOSE_DRIFT
SPENT = {472_000: 7, 472_001: 2}


def _curriculum() -> DifficultyCurriculum:
    return DifficultyCurriculum(band=(0.15, 0.35), levels={SYC: 3, DRIFT: 1}, at_ms=1_700_000)


def test_both_sections_round_trip_through_one_metadata_string() -> None:
    levels = _curriculum()
    meta = offset_notes.join((ledger.encode(SPENT), levels.encode()))
    assert meta is not None and meta.count(offset_notes.SEPARATOR) == 1
    assert ledger.decode(meta) == SPENT
    assert curriculum.decode(meta) == (1_700_000, levels.levels())
    # In either order: each owner finds its section by its tag.
    swapped = offset_notes.join((levels.encode(), ledger.encode(SPENT)))
    assert ledger.decode(swapped) == SPENT
    assert curriculum.decode(swapped) == (1_700_000, levels.levels())


def test_a_reader_passes_over_the_other_owners_section() -> None:
    only_levels = offset_notes.join((None, _curriculum().encode()))
    only_budget = offset_notes.join((ledger.encode(SPENT), None))
    assert ledger.decode(only_levels) == {}
    assert curriculum.decode(only_budget) is None
    # ...and over a section nobody here owns (a later owner, or one switched off).
    meta = offset_notes.join(("other.owner/3 x=1", ledger.encode(SPENT)))
    assert ledger.decode(meta) == SPENT and curriculum.decode(meta) is None
    assert offset_notes.section(meta, "other.owner/3 ") == "other.owner/3 x=1"


def test_a_restarted_curriculum_adopts_its_levels_from_shared_metadata() -> None:
    meta = offset_notes.join((ledger.encode(SPENT), _curriculum().encode()))
    fresh = DifficultyCurriculum(band=(0.15, 0.35))
    assert fresh.adopt_newest([None, meta, ledger.encode({1: 1})])
    assert fresh.level(SYC) == 3 and fresh.level(DRIFT) == 1


def test_single_owner_strings_written_before_sections_still_decode() -> None:
    # What either stage committed alone before the two shared the metadata.
    old_budget = "selftaught.budget/1 472000:7,472001:2"
    old_levels = (
        '{"selftaught_levels":1,"at":5,"levels":{"intention_credit":0,"sycophancy":2,'
        '"ignored_evidence":0,"scale_inconsistency":0,"purpose_drift":4}}'
    )
    assert ledger.decode(old_budget) == SPENT
    assert curriculum.decode(old_budget) is None
    at, levels = curriculum.decode(old_levels) or (0, {})
    assert at == 5 and levels[SYC] == 2 and levels[DRIFT] == 4
    assert ledger.decode(old_levels) == {}


def test_nothing_to_write_is_no_metadata() -> None:
    assert offset_notes.join((None, None)) is None
    assert offset_notes.section(None, ledger.TAG) is None
    assert offset_notes.section("", ledger.TAG) is None


def test_a_section_past_the_brokers_limit_is_left_out_and_the_rest_kept() -> None:
    budget = ledger.encode(SPENT)
    huge = "x.owner/1 " + "y" * offset_notes.MAX_BYTES
    meta = offset_notes.join((budget, huge, _curriculum().encode()))
    assert meta is not None and len(meta.encode()) <= offset_notes.MAX_BYTES
    assert offset_notes.section(meta, "x.owner/1 ") is None
    assert ledger.decode(meta) == SPENT and curriculum.decode(meta) is not None


def test_a_section_holding_the_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="separator"):
        offset_notes.join((ledger.encode(SPENT), "a\nb"))
