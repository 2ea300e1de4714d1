"""The extract of one research project, as a pure function of the lake rows it reads.

For each approved dataset (``<agency>.<dataset>``) the rows of the approved period keep
only the approved fields. Records of a person dataset (one the linkage links) carry the
project pseudonym of their person instead of any id; a record the linkage did not link is
left out, and so is every record of a person who withdrew consent for research.

k-anonymity is over persons, not rows: a person's quasi-identifiers (birth year, sex,
region…) are the same in every file of the extract, so the persons table — one row per
pseudonym with each quasi-identifier, taken from the first dataset in name order that has
the person's value — is generalised and made k-anonymous
(:func:`governance.disclosure.kanonymity.anonymise`), and every file takes its
quasi-identifier columns from it: whatever files a researcher joins on the pseudonym, a
combination of quasi-identifiers is shared by at least k persons. A person the
anonymisation drops leaves every file. A dataset that is not about persons (vacancies)
is made k-anonymous on its own over the quasi-identifiers it has. Other generalisations
(dates to months) apply to every file that has the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from governance.disclosure.errors import PlanInvalid
from governance.disclosure.kanonymity import (
    DisclosurePlan,
    KAnonymityReport,
    anonymise,
    k_achieved,
)
from integration.linkage.bronze_input import AGREEMENT, EVENT_DATE
from integration.research.pseudonyms import project_pseudonyms

PSEUDONYM = "pseudonym"


@dataclass
class DatasetCounts:
    read: int = 0
    outside_period: int = 0
    unlinked: int = 0
    consent_withdrawn: int = 0
    dropped_for_k: int = 0
    written: int = 0
    missing_fields: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Extract:
    """The files (dataset → table), what happened to the rows of each, the k-anonymity
    report of the persons (and of each dataset that is not about persons), and the
    agreement versions the rows were delivered under."""

    files: dict[str, pa.Table]
    counts: dict[str, DatasetCounts]
    persons: KAnonymityReport | None
    per_dataset: dict[str, KAnonymityReport]
    agreements: list[tuple[str, int]]

    def k_achieved(self) -> int:
        """The smallest k over the persons and every dataset made k-anonymous alone."""
        ks = [r.k_achieved for r in (self.persons, *self.per_dataset.values()) if r and r.rows_out]
        return min(ks) if ks else 0


def _in_period(table: pa.Table, period: tuple[date, date]) -> pa.Array:
    if EVENT_DATE not in table.column_names:
        return pa.array([True] * table.num_rows)
    day = table[EVENT_DATE].cast(pa.date32())
    inside = pc.and_(
        pc.greater_equal(day, pa.scalar(period[0], pa.date32())),
        pc.less_equal(day, pa.scalar(period[1], pa.date32())),
    )
    return pc.fill_null(inside, False)


def _agreements(tables: Mapping[str, pa.Table]) -> list[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for table in tables.values():
        if set(AGREEMENT) <= set(table.column_names) and table.num_rows:
            pairs = table.select(list(AGREEMENT)).group_by(list(AGREEMENT)).aggregate([])
            found.update(
                zip(pairs[AGREEMENT[0]].to_pylist(), pairs[AGREEMENT[1]].to_pylist(), strict=True)
            )
    return sorted(found)


def _person_keys(table: pa.Table, links: pa.Table, agency: str, dataset: str) -> pa.Array:
    """The person key of each row (null where the linkage has none)."""
    mine = links.filter(
        pc.and_(pc.equal(links["agency"], agency), pc.equal(links["dataset"], dataset))
    )
    index = pc.index_in(table["record_id"], value_set=mine["record_id"])
    return pc.take(mine["person_key"], index)


def _generalise_others(table: pa.Table, plan: DisclosurePlan) -> pa.Table:
    """Apply the plan's generalisations of columns that are not quasi-identifiers."""
    for g in plan.generalisations:
        if g.column in plan.quasi_identifiers or g.column not in table.column_names:
            continue
        array = table[g.column].combine_chunks()
        if not g.fits(array.type):
            raise PlanInvalid(
                f"column {g.column!r} of type {array.type} cannot be generalised as "
                f"{g.as_dict()['kind']}",
                column=g.column,
            )
        table = table.set_column(table.schema.get_field_index(g.column), g.column, g.apply(array))
    return table


def _sub_plan(plan: DisclosurePlan, columns: Set[str]) -> DisclosurePlan | None:
    qis = tuple(q for q in plan.quasi_identifiers if q in columns)
    if not qis:
        return None
    return DisclosurePlan(
        quasi_identifiers=qis,
        k=plan.k,
        generalisations=tuple(g for g in plan.generalisations if g.column in qis),
    )


def _persons_table(files: Mapping[str, pa.Table], qis: Sequence[str]) -> pa.Table:
    """One row per pseudonym with each quasi-identifier (the first dataset's value)."""
    chunks = [chunk for name in sorted(files) for chunk in files[name][PSEUDONYM].chunks]
    pseudonyms = pc.unique(pa.chunked_array(chunks, pa.string()))
    columns: dict[str, pa.Array] = {PSEUDONYM: pseudonyms}
    for qi in qis:
        values: pa.Array | None = None
        dtype: pa.DataType = pa.string()
        for name in sorted(files):
            table = files[name]
            if qi not in table.column_names:
                continue
            dtype = table.schema.field(qi).type if values is None else dtype
            valid = table.filter(pc.is_valid(table[qi]))
            firsts = pc.index_in(pseudonyms, value_set=valid[PSEUDONYM])
            found = pc.take(valid[qi], firsts).combine_chunks() if valid.num_rows else None
            if found is None:
                continue
            values = found if values is None else pc.coalesce(values, found.cast(values.type))
        columns[qi] = values if values is not None else pa.nulls(len(pseudonyms), dtype)
    return pa.table(columns)


def build_extract(
    tables: Mapping[str, pa.Table],
    links: pa.Table,
    *,
    fields: Mapping[str, Sequence[str]],
    period: tuple[date, date],
    key: bytes,
    plan: DisclosurePlan,
    withdrawn: Set[str] = frozenset(),
) -> Extract:
    """The extract of ``tables`` (``<agency>.<dataset>`` → the latest row of each record
    id, with ``record_id``, the approved ``fields`` present, ``_event_date`` and the
    agreement lineage columns) given the linkage's ``links`` (agency, dataset, record
    id, person key), the project key, its disclosure plan and the person keys whose
    consent for research is withdrawn."""
    counts: dict[str, DatasetCounts] = {}
    person_files: dict[str, pa.Table] = {}
    other_files: dict[str, pa.Table] = {}
    kept: dict[str, pa.Table] = {}
    persons_of: dict[str, pa.Array] = {}
    withdrawn_keys = pa.array(sorted(withdrawn), pa.string())
    sources = links.select(["agency", "dataset"]).group_by(["agency", "dataset"]).aggregate([])
    linked_sources = set(
        zip(sources["agency"].to_pylist(), sources["dataset"].to_pylist(), strict=True)
    )
    for name in sorted(fields):
        agency, dataset = name.split(".", 1)
        table = tables[name]
        c = counts[name] = DatasetCounts(read=table.num_rows)
        inside = _in_period(table, period)
        c.outside_period = table.num_rows - int(pc.sum(pc.cast(inside, pa.int64())).as_py() or 0)
        table = table.filter(inside)
        kept[name] = table
        wanted = list(fields[name])
        c.missing_fields = [f for f in wanted if f not in table.column_names]
        for missing in c.missing_fields:
            table = table.append_column(missing, pa.nulls(table.num_rows, pa.string()))
        if (agency, dataset) in linked_sources:
            person = _person_keys(table, links, agency, dataset)
            linked = pc.is_valid(person)
            c.unlinked = table.num_rows - int(pc.sum(pc.cast(linked, pa.int64())).as_py() or 0)
            table, person = table.filter(linked), person.filter(linked)
            consenting = pc.invert(pc.is_in(person, value_set=withdrawn_keys))
            c.consent_withdrawn = table.num_rows - int(
                pc.sum(pc.cast(consenting, pa.int64())).as_py() or 0
            )
            person_files[name] = table.filter(consenting).select(wanted)
            persons_of[name] = person.filter(consenting)
        else:
            other_files[name] = _generalise_others(table.select(wanted), plan)

    names = sorted(person_files)
    for name, pseudonyms in zip(
        names, project_pseudonyms([persons_of[n] for n in names], key), strict=True
    ):
        with_pseudonym = person_files[name].add_column(0, PSEUDONYM, pseudonyms)
        person_files[name] = _generalise_others(with_pseudonym, plan)
    persons_report: KAnonymityReport | None = None
    person_qis = sorted(
        {q for t in person_files.values() for q in plan.quasi_identifiers if q in t.column_names},
        key=plan.quasi_identifiers.index,
    )
    files: dict[str, pa.Table] = {}
    if person_files and person_qis:
        sub = _sub_plan(plan, set(person_qis))
        assert sub is not None
        persons, persons_report = anonymise(_persons_table(person_files, person_qis), sub)
        for name, table in person_files.items():
            index = pc.index_in(table[PSEUDONYM], value_set=persons[PSEUDONYM])
            present = pc.is_valid(index)
            counts[name].dropped_for_k = table.num_rows - int(
                pc.sum(pc.cast(present, pa.int64())).as_py() or 0
            )
            table, index = table.filter(present), index.filter(present)
            for qi in person_qis:
                if qi in table.column_names:
                    position = table.schema.get_field_index(qi)
                    table = table.set_column(position, qi, pc.take(persons[qi], index))
            files[name] = table
    else:
        files.update(person_files)
    per_dataset: dict[str, KAnonymityReport] = {}
    for name, table in other_files.items():
        sub = _sub_plan(plan, set(table.column_names))
        if sub is None:
            files[name] = table
            continue
        anonymised, report = anonymise(table, sub)
        counts[name].dropped_for_k = table.num_rows - anonymised.num_rows
        per_dataset[name] = report
        files[name] = anonymised
    for name, table in files.items():
        counts[name].written = table.num_rows
    return Extract(files, counts, persons_report, per_dataset, _agreements(kept))


def persons_k(extract: Extract, qis: Sequence[str]) -> int:
    """k over the persons of the extract as a researcher joining every file would see
    it: the persons table rebuilt from the files."""
    person_files = {n: t for n, t in extract.files.items() if PSEUDONYM in t.column_names}
    present = [q for q in qis if any(q in t.column_names for t in person_files.values())]
    if not person_files or not present:
        return 0
    return k_achieved(_persons_table(person_files, present), present)
