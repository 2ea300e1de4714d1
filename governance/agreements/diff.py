"""What changed between two versions of an agreement, term by term.

The versions are compared as the documents the parties signed (validated, defaults
filled in), so only real changes of terms show, never YAML formatting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.agreements.document import AgreementDocument


@dataclass(frozen=True, order=True)
class Change:
    """One changed term: where (``datasets.contributions.fields``), before and after."""

    term: str
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        return {"term": self.term, "before": self.before, "after": self.after}

    def describe(self) -> str:
        if isinstance(self.before, list) and isinstance(self.after, list):
            added = [x for x in self.after if x not in self.before]
            removed = [x for x in self.before if x not in self.after]
            parts = [f"+{x}" for x in added] + [f"-{x}" for x in removed]
            return f"{self.term}: {', '.join(parts) or 'reordered'}"
        return f"{self.term}: {self.before!r} -> {self.after!r}"


def diff(old: AgreementDocument, new: AgreementDocument) -> list[Change]:
    """Every term that differs between ``old`` and ``new`` (the version number aside)."""
    before = old.model_dump(mode="json", exclude={"version"})
    after = new.model_dump(mode="json", exclude={"version"})
    changes: list[Change] = []
    _walk("", before, after, changes)
    return sorted(changes)


def _walk(path: str, before: Any, after: Any, out: list[Change]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            where = f"{path}.{key}" if path else str(key)
            if key not in before:
                out.append(Change(where, None, after[key]))
            elif key not in after:
                out.append(Change(where, before[key], None))
            else:
                _walk(where, before[key], after[key], out)
    elif before != after:
        out.append(Change(path, before, after))
