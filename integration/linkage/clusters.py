"""From links to persons: deterministic joins on strong tokens, model links, components.

A person is a connected component of the graph whose nodes are records and whose edges
are (1) two records sharing a strong token that names one person — the same NIS number,
the same agency person number, or the same national ID with a date of birth that does
not disagree —, (2) pairs the model scores at or above the match weight, and (3) pairs
a reviewer decided are the same person; pairs a reviewer decided are different people
are never an edge.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from integration.linkage.features import Features

Pair = tuple[int, int]
Edges = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def group_edges(keys: npt.NDArray[np.int64], nodes: npt.NDArray[np.int64]) -> Edges:
    """Edges joining every node to the first node of its key's group (a star per group)."""
    if len(nodes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort((nodes, keys))
    k, n = keys[order], nodes[order]
    first = np.r_[True, k[1:] != k[:-1]]
    head = n[np.maximum.accumulate(np.where(first, np.arange(len(n)), 0))]
    keep = ~first
    return head[keep], n[keep]


def _combined(*columns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One 64-bit group key from several (a hash mix; the groups are then exact up to a
    2^-64 chance per pair)."""
    out = np.zeros(len(columns[0]), np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            out = (out * np.uint64(0x9E3779B97F4A7C15)) ^ column.astype(np.uint64)
    return out.view(np.int64)


def deterministic_edges(features: Features) -> Edges:
    """Edges between records that share a strong token (within one key generation); the
    national ID only joins person records whose dates of birth do not disagree."""
    lefts, rights = [], []
    key_ids = features.key_ids.astype(np.int64)
    persons = features.persons
    dob = np.full(features.nodes, -1, np.int64)
    dob_valid = np.zeros(features.nodes, bool)
    if persons.num_rows and "dob" in persons.column_names:
        ids = persons["unique_id"].to_numpy()
        valid = persons["dob"].is_valid().to_numpy(zero_copy_only=False)
        dob[ids[valid]] = persons["dob"].to_numpy(zero_copy_only=False)[valid]
        dob_valid[ids[valid]] = True
    for kind, values in features.strong.items():
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        nodes = np.flatnonzero(valid).astype(np.int64)
        raw = values.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)[nodes]
        if kind == "national_id":
            # Without a date of birth a shared ID is left to the model.
            nodes, raw = nodes[dob_valid[nodes]], raw[dob_valid[nodes]]
            group = _combined(key_ids[nodes], raw, dob[nodes])
        else:
            group = _combined(key_ids[nodes], raw)
        left, right = group_edges(group, nodes)
        lefts.append(left)
        rights.append(right)
    return np.concatenate(lefts), np.concatenate(rights)


def components(
    nodes: int,
    edges: Iterable[Edges],
    *,
    linkable: npt.NDArray[np.bool_],
    forbidden: Iterable[Pair] = (),
) -> npt.NDArray[np.int64]:
    """The component label of every node (-1 for nodes that are not ``linkable``); a
    label is the smallest node index of its component, so labels do not depend on the
    order edges come in. ``forbidden`` pairs are removed as direct edges."""
    parts = [e for e in edges if len(e[0])]
    left = np.concatenate([e[0] for e in parts]) if parts else np.zeros(0, np.int64)
    right = np.concatenate([e[1] for e in parts]) if parts else np.zeros(0, np.int64)
    banned = np.array([min(a, b) * nodes + max(a, b) for a, b in forbidden], np.int64)
    if len(banned) and len(left):
        keep = ~np.isin(np.minimum(left, right) * nodes + np.maximum(left, right), banned)
        left, right = left[keep], right[keep]
    graph = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(nodes, nodes))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1 if nodes else 0, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, labels, np.arange(nodes, dtype=np.int64))
    out: npt.NDArray[np.int64] = smallest[labels]
    out[~linkable] = -1
    return out


def model_edges(edges: pa.Table, match_weight: float) -> Edges:
    """The model's pairs at or above ``match_weight``."""
    if edges.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    weight = edges["match_weight"].to_numpy(zero_copy_only=False)
    keep = weight >= match_weight
    return (
        edges["unique_id_l"].to_numpy(zero_copy_only=False)[keep].astype(np.int64),
        edges["unique_id_r"].to_numpy(zero_copy_only=False)[keep].astype(np.int64),
    )
