"""Versions of published structures: a change gives a new version, the old one stays.

SDMX consumers cache structures by ``agency:id(version)``, so a published version must
never change its content. The rule for codelists, concept schemes and data structures
alike:

- no previous version: the version the artefact carries;
- the same content as the previous version (ids, names, codes and labels, references):
  the previous version, unchanged;
- different content (a code added, removed or relabelled, a dimension added, a
  codelist reference moved to a new version…): the next version — the previous one with
  its last number raised (``1.0`` → ``1.1``, ``1.9`` → ``1.10``), or the version the
  artefact carries when the caller chose a higher one (``2.0`` for a major change).

Additions and removals count alike. A data structure refers to its codelists by
version, so a new codelist version gives each flow that uses it a new version too.
"""

from __future__ import annotations

from typing import Protocol

from integration.indicators.sdmx.errors import VersionInvalid
from integration.indicators.sdmx.model import Codelist, check_version


class Versioned(Protocol):
    """An artefact with an identity, a version and content compared without the version."""

    @property
    def agency(self) -> str: ...

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> str: ...


def version_key(version: str) -> tuple[int, ...]:
    """The version as numbers, for ordering (``"1.10"`` after ``"1.9"``)."""
    check_version(version, what="version")
    return tuple(int(part) for part in version.split("."))


def next_version(version: str) -> str:
    """The version after ``version``: its last number raised by one."""
    parts = list(version_key(version))
    parts[-1] += 1
    return ".".join(str(part) for part in parts)


def successor_version(previous: Versioned | None, current: Versioned, *, same_content: bool) -> str:
    """The version ``current`` is published under, given the previous published version."""
    check_version(current.version, what=f"{current.id}")
    if previous is None:
        return current.version
    if (previous.agency, previous.id) != (current.agency, current.id):
        raise VersionInvalid(
            f"{current.agency}:{current.id} cannot follow {previous.agency}:{previous.id}"
        )
    if same_content:
        return previous.version
    following = next_version(previous.version)
    if version_key(current.version) > version_key(following):
        return current.version
    return following


def codelist_version(previous: Codelist | None, current: Codelist) -> str:
    """The version ``current`` is published under (see the module docstring)."""
    same = previous is not None and (previous.name, previous.codes) == (
        current.name,
        current.codes,
    )
    return successor_version(previous, current, same_content=same)
