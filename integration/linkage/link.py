"""The library call: link any set of tokenised tables into persons.

``link(tables)`` takes Arrow tables (or anything with ``record_id`` and ``<kind>_token``
columns, such as the bronze tables) keyed by :class:`Source`, and returns every record's
component label, the model, the scored pairs and the review band. It knows nothing of
the lake, the hub database or person keys: the linkage job (:mod:`.job`) reads bronze,
calls it, assigns stable keys and writes silver; tests and benchmarks call it on tables
they make.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from integration.linkage.clusters import (
    Edges,
    Pair,
    components,
    deterministic_edges,
    scored_links,
)
from integration.linkage.errors import NoLinkageInput
from integration.linkage.features import Features, Source, build_features
from integration.linkage.model import ModelSettings, TrainedModel, train_and_score


@dataclass
class Linkage:
    """What one linkage computed, node by node (see :class:`Features` for the order)."""

    features: Features
    model: TrainedModel
    labels: npt.NDArray[np.int64]
    #: Highest model weight of a link that holds the record in its person (NaN when only
    #: strong tokens or nothing joined it).
    weights: npt.NDArray[np.float64]
    deterministic_pairs: int
    seconds: dict[str, float] = field(default_factory=dict)

    def node_of(self) -> dict[tuple[Source, str], int]:
        """Node index of each (source, record id)."""
        sources = self.features.sources
        ids = self.features.record_ids.to_pylist()
        return {
            (sources[s], r): i
            for i, (s, r) in enumerate(zip(self.features.source_index.tolist(), ids, strict=True))
        }

    def summary(self) -> dict[str, Any]:
        linked = self.labels >= 0
        return {
            "records": self.features.nodes,
            "linked_records": int(linked.sum()),
            "persons": len(np.unique(self.labels[linked])),
            "pairs_scored": self.model.pairs_scored,
            "pairs_for_review": self.model.review.num_rows,
            "deterministic_pairs": self.deterministic_pairs,
            "by_source": self.features.counts,
        }


def link(
    tables: Mapping[Source, pa.Table],
    *,
    settings: ModelSettings | None = None,
    same: Iterable[Pair] = (),
    different: Iterable[Pair] = (),
    trained: dict[str, Any] | None = None,
    new: npt.NDArray[np.bool_] | None = None,
    kept: Edges | None = None,
) -> Linkage:
    """Link the records of ``tables``; ``same`` and ``different`` are node pairs a
    reviewer decided (matched and not matched).

    Incrementally: ``trained`` is an earlier run's model (not trained again), ``new``
    marks the nodes to compare (pairs with at least one of them are scored), and
    ``kept`` are edges holding the earlier persons together."""
    settings = settings or ModelSettings()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    features = build_features(tables)
    if features.persons.num_rows == 0:
        raise NoLinkageInput(
            "no person records with tokens among "
            + (", ".join(str(s) for s in features.sources) or "no tables")
        )
    seconds["features"] = time.perf_counter() - started
    t = time.perf_counter()
    new_ids = None
    if new is not None:
        if len(new) != features.nodes:
            raise ValueError("one new flag per node")
        ids = features.persons["unique_id"].to_numpy()
        new_ids = ids[new[ids]]
    model = train_and_score(features.persons, settings, trained=trained, new=new_ids)
    seconds["model"] = time.perf_counter() - t
    t = time.perf_counter()
    strong = deterministic_edges(features)
    scored, scored_weights = scored_links(model.edges, settings.match_weight)
    decided = np.array(list(same), np.int64).reshape(-1, 2)
    # Strong tokens and earlier persons give way to a reviewer's "no match" only after
    # every model link, weakest first.
    very_strong = 1e6
    labels = components(
        features.nodes,
        [scored, strong, (decided[:, 0], decided[:, 1]), *([kept] if kept is not None else [])],
        linkable=features.linkable(),
        forbidden=different,
        strengths=[
            scored_weights,
            np.full(len(strong[0]), very_strong),
            None,
            *([np.full(len(kept[0]), very_strong)] if kept is not None else []),
        ],
    )
    weights = np.full(features.nodes, np.nan)
    for side in scored:
        np.fmax.at(weights, side, scored_weights)  # fmax ignores the NaN of "no weight yet"
    seconds["clusters"] = time.perf_counter() - t
    return Linkage(
        features=features,
        model=model,
        labels=labels,
        weights=weights,
        deterministic_pairs=len(strong[0]),
        seconds=seconds,
    )
