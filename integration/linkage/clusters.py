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


def _smallest_labels(labels: npt.NDArray[np.int64], nodes: int) -> npt.NDArray[np.int64]:
    """Relabel so each component is named by its smallest node."""
    smallest = np.full(labels.max() + 1 if nodes else 0, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, labels, np.arange(nodes, dtype=np.int64))
    out: npt.NDArray[np.int64] = smallest[labels]
    return out


def _split_forbidden(
    labels: npt.NDArray[np.int64],
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    strength: npt.NDArray[np.float64],
    forbidden: list[Pair],
) -> None:
    """Re-cluster, in place, each component that holds a forbidden pair: its edges are
    added strongest first, skipping any that would put a forbidden pair in one person
    (so a reviewer's "no match" separates the two records whatever path joined them,
    and the weakest links give way)."""
    bad = {int(labels[a]) for a, b in forbidden if labels[a] == labels[b]}
    if not bad:
        return
    in_bad = np.isin(labels[left], list(bad))
    order = np.flatnonzero(in_bad)[np.argsort(-strength[in_bad], kind="stable")]
    parent: dict[int, int] = {}
    apart: dict[int, set[int]] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in forbidden:
        if int(labels[a]) in bad and labels[a] == labels[b]:
            apart.setdefault(int(a), set()).add(int(b))
            apart.setdefault(int(b), set()).add(int(a))
    enemies: dict[int, set[int]] = {node: set(others) for node, others in apart.items()}
    for i in order.tolist():
        ra, rb = find(int(left[i])), find(int(right[i]))
        if ra == rb:
            continue
        foes_a = {find(x) for x in enemies.get(ra, set())}
        if rb in foes_a:
            continue
        parent[rb] = ra
        enemies[ra] = enemies.get(ra, set()) | enemies.pop(rb, set())
    members = np.flatnonzero(np.isin(labels, list(bad)))
    roots = np.array([find(int(n)) for n in members.tolist()], np.int64)
    smallest: dict[int, int] = {}
    for node, root in zip(members.tolist(), roots.tolist(), strict=True):
        smallest[root] = min(smallest.get(root, node), node)
    labels[members] = [smallest[root] for root in roots.tolist()]


def components(
    nodes: int,
    edges: Iterable[Edges],
    *,
    linkable: npt.NDArray[np.bool_],
    forbidden: Iterable[Pair] = (),
    strengths: Iterable[npt.NDArray[np.float64] | None] = (),
) -> npt.NDArray[np.int64]:
    """The component label of every node (-1 for nodes that are not ``linkable``); a
    label is the smallest node index of its component, so labels do not depend on the
    order edges come in.

    ``strengths`` gives, edge set by edge set, each edge's strength (a missing or None
    entry: the edges are unbreakable, infinitely strong). A component that would hold a
    ``forbidden`` pair is split by dropping its weakest edges (:func:`_split_forbidden`).
    """
    edge_sets = list(edges)
    weights = list(strengths) + [None] * (len(edge_sets) - len(list(strengths)))
    parts = [(e, w) for e, w in zip(edge_sets, weights, strict=True) if len(e[0])]
    left = np.concatenate([e[0] for e, _ in parts]) if parts else np.zeros(0, np.int64)
    right = np.concatenate([e[1] for e, _ in parts]) if parts else np.zeros(0, np.int64)
    strength = (
        np.concatenate([np.full(len(e[0]), np.inf) if w is None else w for e, w in parts])
        if parts
        else np.zeros(0)
    )
    graph = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(nodes, nodes))
    _, raw = connected_components(graph, directed=False)
    labels = _smallest_labels(raw.astype(np.int64), nodes)
    banned = [(int(a), int(b)) for a, b in forbidden]
    if banned and len(left):
        _split_forbidden(labels, left, right, strength, banned)
    labels[~linkable] = -1
    return labels


def scored_links(edges: pa.Table, match_weight: float) -> tuple[Edges, npt.NDArray[np.float64]]:
    """The model's pairs at or above ``match_weight``, and their weights."""
    if edges.num_rows == 0:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64)), np.zeros(0)
    weight = edges["match_weight"].to_numpy(zero_copy_only=False).astype(np.float64)
    keep = weight >= match_weight
    pairs = (
        edges["unique_id_l"].to_numpy(zero_copy_only=False)[keep].astype(np.int64),
        edges["unique_id_r"].to_numpy(zero_copy_only=False)[keep].astype(np.int64),
    )
    return pairs, weight[keep]


def model_edges(edges: pa.Table, match_weight: float) -> Edges:
    """The model's pairs at or above ``match_weight``."""
    return scored_links(edges, match_weight)[0]
