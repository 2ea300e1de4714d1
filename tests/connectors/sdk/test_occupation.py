"""ISCO-08 coding of job titles, measured against the synthetic nation's truth: the
synth draws each vacancy title from the ESCO labels of a known unit group
(``synth/data/job_titles.csv``)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sdk.occupation import OccupationCoder, normalise_title
from synth import reference


@pytest.fixture(scope="module")
def coder() -> OccupationCoder:
    return OccupationCoder.packaged()


def synth_titles() -> list[tuple[str, str]]:
    return sorted((t, code) for code, ts in reference.job_titles().items() for t in ts)


def test_titles_as_the_synth_writes_them(coder: OccupationCoder) -> None:
    """Measured: 0.974 top-1 over all 11,211 titles (the rest are labels shared by
    several unit groups)."""
    titles = synth_titles()
    right = sum((s := coder.suggest(t)) is not None and s.code == code for t, code in titles)
    assert right / len(titles) >= 0.95


def test_titles_the_index_has_never_seen() -> None:
    """Leave-label-out: 400 synth titles removed from the index must be coded from the
    other labels of their group. Measured: 0.74 top-1 (exact match alone: 0)."""
    sample = random.Random(7).sample(synth_titles(), 400)
    held = {normalise_title(t) for t, _ in sample}
    packaged = OccupationCoder.packaged()
    labels = [label for label in packaged.labels() if label.text not in held]
    coder = OccupationCoder(labels)
    suggestions = [(coder.suggest(t), code) for t, code in sample]
    right = [s is not None and s.code == code for s, code in suggestions]
    assert sum(right) / len(sample) >= 0.65
    # the confidence ranks: the more confident half is right more often
    ranked = sorted(
        ((s.confidence if s else 0.0), ok) for (s, _), ok in zip(suggestions, right, strict=True)
    )
    half = len(ranked) // 2
    assert sum(ok for _, ok in ranked[half:]) > sum(ok for _, ok in ranked[:half])


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("Senior WELDER - urgently required!", "7212"),
        ("Truck driver (full time)", "8332"),
        ("security guards", "5414"),
    ],
)
def test_filler_words_case_and_punctuation_do_not_matter(
    coder: OccupationCoder, title: str, code: str
) -> None:
    s = coder.suggest(title)
    assert s is not None and s.code == code and s.method == "exact"


def test_a_label_of_two_groups_is_half_sure(coder: OccupationCoder) -> None:
    s = coder.suggest("Bookkeeper")  # an ESCO label in 2411 and in 4311
    assert s is not None and s.code in {"2411", "4311"} and s.confidence == 0.5


def test_a_misspelt_title_is_coded_fuzzily_with_less_confidence(coder: OccupationCoder) -> None:
    s = coder.suggest("welderr")
    assert s is not None and s.method == "fuzzy" and s.code == "7212"
    assert 0.0 < s.confidence < 1.0


def test_a_title_without_words_gets_no_suggestion(coder: OccupationCoder) -> None:
    assert coder.suggest("  -- !! ") is None


@given(st.text(max_size=60))
def test_any_text_gives_a_valid_code_and_confidence_or_nothing(text: str) -> None:
    s = OccupationCoder.packaged().suggest(text)
    if s is not None:
        assert len(s.code) == 4 and s.code.isdigit()
        assert 0.0 <= s.confidence <= 1.0
