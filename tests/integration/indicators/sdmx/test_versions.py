"""Versions: the same content keeps its version, any change gives the next one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.indicators.sdmx.errors import VersionInvalid
from integration.indicators.sdmx.model import Code, Codelist
from integration.indicators.sdmx.versions import codelist_version, next_version, version_key

SEX = Codelist("CL_SEX", "Sex", "1.0", (Code("SEX_M", "Male"), Code("SEX_F", "Female")))


@pytest.mark.parametrize(
    ("version", "following"),
    [("1.0", "1.1"), ("1.9", "1.10"), ("2", "3"), ("2.0.3", "2.0.4")],
)
def test_the_next_version_raises_the_last_number(version: str, following: str) -> None:
    assert next_version(version) == following
    assert version_key(following) > version_key(version)


def test_a_version_that_is_not_numbers_is_refused() -> None:
    with pytest.raises(VersionInvalid):
        next_version("1.0-beta")


def test_a_first_codelist_keeps_the_version_it_carries() -> None:
    assert codelist_version(None, SEX) == "1.0"


def test_the_same_codes_and_labels_keep_the_previous_version() -> None:
    rebuilt = Codelist("CL_SEX", "Sex", "1.0", tuple(SEX.codes))
    assert codelist_version(SEX, rebuilt) == "1.0"
    later = Codelist("CL_SEX", "Sex", "1.3", tuple(SEX.codes))
    assert codelist_version(later, rebuilt) == "1.3"


@pytest.mark.parametrize(
    "codes",
    [
        (Code("SEX_M", "Male"), Code("SEX_F", "Female"), Code("SEX_O", "Not stated")),
        (Code("SEX_M", "Male"),),
        (Code("SEX_M", "Men"), Code("SEX_F", "Female")),
        (Code("SEX_F", "Female"), Code("SEX_M", "Male")),
    ],
    ids=["addition", "removal", "relabel", "reorder"],
)
def test_any_change_of_the_codes_gives_the_next_version(codes: tuple[Code, ...]) -> None:
    assert codelist_version(SEX, Codelist("CL_SEX", "Sex", "1.0", codes)) == "1.1"


def test_a_higher_version_the_caller_chose_is_kept_for_a_change() -> None:
    changed = Codelist("CL_SEX", "Sex", "2.0", (Code("SEX_M", "Male"),))
    assert codelist_version(SEX, changed) == "2.0"


def test_a_different_codelist_cannot_follow() -> None:
    with pytest.raises(VersionInvalid):
        codelist_version(SEX, Codelist("CL_AGE", "Age", "1.0", ()))


codes = st.lists(
    st.tuples(st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True), st.text(max_size=8)),
    max_size=6,
    unique_by=lambda pair: pair[0],
).map(lambda pairs: tuple(Code(code_id, name) for code_id, name in pairs))
versions = st.lists(st.integers(0, 30), min_size=1, max_size=3).map(
    lambda parts: ".".join(map(str, parts))
)


@given(previous_codes=codes, current_codes=codes, previous=versions, current=versions)
def test_a_published_version_never_changes_its_content(
    previous_codes: tuple[Code, ...],
    current_codes: tuple[Code, ...],
    previous: str,
    current: str,
) -> None:
    published = Codelist("CL_X", "X", previous, previous_codes)
    candidate = Codelist("CL_X", "X", current, current_codes)
    version = codelist_version(published, candidate)
    if previous_codes == current_codes:
        assert version == previous
    else:
        assert version_key(version) > version_key(previous)
