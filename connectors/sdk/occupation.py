"""ISCO-08 coding of free-text job titles, as employers write them on a job board.

The index holds the English ESCO occupation labels — each occupation's preferred and
alternative labels and the ISCO-08 unit group titles, with the unit group each
belongs to (``data/esco_occupation_labels.csv``; ESCO, European Commission, see
``data/ATTRIBUTION.md``). A title is normalised (accents, case, punctuation, filler
words such as "senior" or "urgently required" removed) and then:

1. **exact**: the normalised title is a normalised label. The suggestion is the unit
   group most labels with that text belong to; the confidence is that group's share
   of them (1.0 when the label is unambiguous).
2. **fuzzy**: otherwise the title is compared with every label by cosine similarity of
   TF-IDF vectors of character 3-grams (of each word, with word boundaries) and
   whole words, so typos, plurals and word order cost little. The unit groups of the
   ``top_k`` nearest labels vote with their similarities; the suggestion is the group
   with the most weight, and its confidence is the best similarity of that group times
   the group's share of the votes — high only when the title is close to a label and
   the neighbours agree.

Pure Python and numpy; building the packaged index takes about a second and is done
once per process (:meth:`OccupationCoder.packaged`).
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

#: Words that say nothing about the occupation.
FILLER = frozenset(
    {"a", "an", "and", "the", "of", "for", "in", "on", "at", "to", "with", "or"}
    | {"senior", "snr", "sr", "junior", "jnr", "jr", "experienced", "qualified"}
    | {"urgent", "urgently", "wanted", "needed", "required", "hiring", "immediate", "start"}
    | {"vacancy", "position", "job", "opening", "full", "part", "time", "fulltime", "parttime"}
    | {"temporary", "temp", "permanent", "contract", "m", "f", "w", "d", "x"}
)
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_title(text: str) -> str:
    """Lower case ASCII words without punctuation or filler words, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    words = [w for w in _NOT_ALNUM.sub(" ", plain).split() if w not in FILLER]
    return " ".join(words)


def features(normalised: str) -> Counter[str]:
    """Character 3-grams of each word (with ``#`` marking its ends) and the words."""
    out: Counter[str] = Counter()
    for word in normalised.split():
        out[f"w:{word}"] += 1
        padded = f"#{word}#"
        for i in range(len(padded) - 2):
            out[padded[i : i + 3]] += 1
    return out


@dataclass(frozen=True)
class Suggestion:
    """A suggested ISCO-08 unit group for a title."""

    code: str
    confidence: float
    method: str  # "exact" or "fuzzy"
    label: str  # the nearest label (normalised)


@dataclass(frozen=True)
class Label:
    """One occupation label and the ISCO-08 unit group it belongs to."""

    isco: str
    text: str


class OccupationCoder:
    """An index of occupation labels that suggests ISCO-08 unit groups for titles."""

    def __init__(self, labels: Iterable[Label], *, top_k: int = 5) -> None:
        by_text: dict[str, Counter[str]] = defaultdict(Counter)
        for label in labels:
            text = normalise_title(label.text)
            if text:
                by_text[text][label.isco] += 1
        if not by_text:
            raise ValueError("no occupation labels to index")
        self.top_k = top_k
        self._texts: list[str] = sorted(by_text)
        self._exact: dict[str, Counter[str]] = dict(by_text)
        #: Each indexed text's most common group (ties: the lowest code).
        self._group = [_majority(by_text[t])[0] for t in self._texts]
        self._build_vectors()

    @classmethod
    def packaged(cls) -> OccupationCoder:
        """The coder over the ESCO labels shipped with the SDK (built once)."""
        return _packaged()

    def _build_vectors(self) -> None:
        counts = [features(t) for t in self._texts]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        n = len(counts)
        self._idf = {f: math.log((n + 1) / (d + 1)) + 1.0 for f, d in df.items()}
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for i, c in enumerate(counts):
            weights = {f: (1 + math.log(k)) * self._idf[f] for f, k in c.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for f, w in weights.items():
                ids, ws = postings[f]
                ids.append(i)
                ws.append(w / norm)
        self._postings: dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]] = {
            f: (np.asarray(ids, dtype=np.int32), np.asarray(ws, dtype=np.float64))
            for f, (ids, ws) in postings.items()
        }

    def __len__(self) -> int:
        return len(self._texts)

    def labels(self) -> list[Label]:
        """The indexed labels (normalised text), each as often as it was given."""
        return [Label(code, text) for text in self._texts for code in self._exact[text].elements()]

    def exact(self, title: str) -> Suggestion | None:
        """The exact-label suggestion, or None when the title is no label."""
        text = normalise_title(title)
        found = self._exact.get(text)
        if found is None:
            return None
        code, share = _majority(found)
        return Suggestion(code, share, "exact", text)

    def suggest(self, title: str) -> Suggestion | None:
        """The best unit group for a title; None when nothing in it resembles a label."""
        text = normalise_title(title)
        if not text:
            return None
        found = self._exact.get(text)
        if found is not None:
            code, share = _majority(found)
            return Suggestion(code, share, "exact", text)
        return self._fuzzy(text)

    def suggest_many(self, titles: Sequence[str]) -> list[Suggestion | None]:
        return [self.suggest(t) for t in titles]

    def _fuzzy(self, text: str) -> Suggestion | None:
        query = {
            f: (1 + math.log(k)) * w for f, k in features(text).items() if (w := self._idf.get(f))
        }
        if not query:
            return None
        norm = math.sqrt(sum(w * w for w in query.values()))
        scores = np.zeros(len(self._texts), dtype=np.float64)
        for f, w in query.items():
            ids, weights = self._postings[f]
            scores[ids] += weights * (w / norm)
        k = min(self.top_k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        votes: dict[str, float] = defaultdict(float)
        best: dict[str, tuple[float, int]] = {}
        for i in top.tolist():
            s = float(scores[i])
            if s <= 0:
                break
            group = self._group[i]
            votes[group] += s
            if group not in best:
                best[group] = (s, i)
        if not votes:
            return None
        code = max(votes, key=lambda g: (votes[g], -int(g)))
        similarity, nearest = best[code]
        share = votes[code] / sum(votes.values())
        confidence = max(0.0, min(1.0, similarity * share))
        return Suggestion(code, round(confidence, 4), "fuzzy", self._texts[nearest])


def _majority(groups: Counter[str]) -> tuple[str, float]:
    total = sum(groups.values())
    code, count = min(groups.items(), key=lambda kv: (-kv[1], kv[0]))
    return code, count / total


def load_labels(text: str) -> list[Label]:
    """Labels from the CSV text of ``esco_occupation_labels.csv`` (isco, label, kind)."""
    return [Label(r["isco"], r["label"]) for r in csv.DictReader(text.splitlines())]


@cache
def _packaged() -> OccupationCoder:
    data = resources.files("connectors.sdk").joinpath("data", "esco_occupation_labels.csv")
    return OccupationCoder(load_labels(data.read_text(encoding="utf-8")))
