"""The data structure definitions of the flows, and the set of structures a release holds.

Every flow's data structure (DSD ``DSD_<flow id>``) has the key REF_AREA, FREQ, the
flow's own dimensions, then TIME_PERIOD; the primary measure OBS_VALUE; and the
attributes OBS_STATUS, CONF_STATUS and STD_ERROR (the standard error, uncoded) on each
observation, UNIT_MEASURE and UNIT_MULT on each series (all dimensions but time). The
concepts of all components live in one concept scheme, ``CS_LMIS``.

A :class:`Release` is every structure one structure message carries: the current
version of each codelist, concept scheme and data structure, and the earlier versions
of the previous release, kept so that data published against them stays readable.
:meth:`Release.build` versions the current structures against the previous release
(:mod:`integration.indicators.sdmx.versions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import Literal, TypeVar

from integration.indicators.sdmx.codelists import CodelistRegistry, Standard
from integration.indicators.sdmx.errors import FlowInvalid, StructureUnknown, VersionConflict
from integration.indicators.sdmx.model import Code, Codelist, Flow, check_version
from integration.indicators.sdmx.versions import (
    Versioned,
    codelist_version,
    successor_version,
    version_key,
)

#: The concept scheme every data structure draws its concepts from.
CONCEPT_SCHEME_ID = "CS_LMIS"
#: Names of the concepts every data structure has.
STANDARD_CONCEPTS = (
    Code("REF_AREA", "Reference area"),
    Code("FREQ", "Frequency"),
    Code("TIME_PERIOD", "Time period"),
    Code("OBS_VALUE", "Observation value"),
    Code("OBS_STATUS", "Observation status"),
    Code("CONF_STATUS", "Confidentiality status"),
    Code("UNIT_MEASURE", "Unit of measure"),
    Code("UNIT_MULT", "Unit multiplier"),
    Code("STD_ERROR", "Standard error"),
)


@dataclass(frozen=True)
class Reference:
    """A reference to a maintained artefact, ``agency:id(version)``."""

    agency: str
    id: str
    version: str

    @classmethod
    def to(cls, artefact: Versioned) -> Reference:
        """The reference to ``artefact``."""
        return cls(artefact.agency, artefact.id, artefact.version)

    def __str__(self) -> str:
        return f"{self.agency}:{self.id}({self.version})"


@dataclass(frozen=True)
class Component:
    """A dimension or attribute: its id (also its concept's id) and its codelist.

    ``codelist`` is ``None`` for an uncoded component (the standard error, a double).
    ``level`` says what an attribute's value belongs to: each observation or each series.
    """

    id: str
    codelist: Reference | None
    level: Literal["observation", "series"] = "observation"
    mandatory: bool = True


@dataclass(frozen=True)
class ConceptScheme:
    """The concepts the components of the data structures stand for."""

    id: str
    name: str
    version: str
    concepts: tuple[Code, ...]
    agency: str = "LMIS"


@dataclass(frozen=True)
class DataStructure:
    """A flow's data structure definition and its dataflow, as published.

    ``id`` is the dataflow's id; the DSD's is :attr:`dsd_id`. Both share ``version``.
    ``dimensions`` are in key order, TIME_PERIOD (always last) left out.
    """

    id: str
    agency: str
    version: str
    name: str
    description: str
    concepts: Reference
    dimensions: tuple[Component, ...]
    attributes: tuple[Component, ...]

    @property
    def dsd_id(self) -> str:
        """The id of the data structure definition."""
        return f"DSD_{self.id}"

    def codelists(self) -> tuple[Reference, ...]:
        """The codelists the components use, in component order."""
        return tuple(
            component.codelist
            for component in (*self.dimensions, *self.attributes)
            if component.codelist is not None
        )


def concept_scheme_version(previous: ConceptScheme | None, current: ConceptScheme) -> str:
    """The version ``current`` is published under (the rule of the versions module)."""
    same = previous is not None and (previous.name, previous.concepts) == (
        current.name,
        current.concepts,
    )
    return successor_version(previous, current, same_content=same)


def structure_version(previous: DataStructure | None, current: DataStructure) -> str:
    """The version a flow and its data structure are published under.

    The name, description, key, attributes and every codelist and concept scheme
    reference (with its version) count; the unit and frequency are data (attribute
    values and the FREQ key), not structure.
    """
    same = previous is not None and replace(previous, version=current.version) == current
    return successor_version(previous, current, same_content=same)


def concept_scheme(
    flows: Sequence[Flow], registry: CodelistRegistry, *, version: str = "1.0"
) -> ConceptScheme:
    """The concepts of ``flows``: the standard ones, then each dimension id (sorted),
    named after its codelist (the first flow's, by flow id, when flows differ)."""
    named: dict[str, str] = {}
    for flow in sorted(flows, key=lambda flow: flow.id):
        for dimension in flow.dimensions:
            named.setdefault(dimension.id, registry.codelist(dimension.codelist).name)
    concepts = (*STANDARD_CONCEPTS, *(Code(id, named[id]) for id in sorted(named)))
    return ConceptScheme(
        id=CONCEPT_SCHEME_ID,
        name="Concepts of the LMIS indicators",
        version=version,
        concepts=concepts,
    )


def data_structure(
    flow: Flow, codelists: Mapping[str, Codelist], *, concepts: ConceptScheme
) -> DataStructure:
    """The data structure of ``flow``, referring to ``codelists`` (by id) at their versions."""

    def ref(codelist_id: str) -> Reference:
        try:
            return Reference.to(codelists[codelist_id])
        except KeyError:
            raise FlowInvalid(
                f"flow {flow.id}: codelist {codelist_id} is not part of the release"
            ) from None

    units = codelists.get(Standard.UNIT_MEASURE)
    if units is None or flow.unit not in units:
        raise FlowInvalid(f"flow {flow.id}: unit {flow.unit!r} is not in {Standard.UNIT_MEASURE}")
    concept_ids = {concept.id for concept in concepts.concepts}
    missing = [d.id for d in flow.dimensions if d.id not in concept_ids]
    if missing:
        raise FlowInvalid(f"flow {flow.id}: dimensions {missing} have no concept")
    return DataStructure(
        id=flow.id,
        agency=flow.agency,
        version=flow.version,
        name=flow.name,
        description=flow.description,
        concepts=Reference.to(concepts),
        dimensions=(
            Component("REF_AREA", ref(Standard.AREA)),
            Component("FREQ", ref(Standard.FREQ)),
            *(Component(d.id, ref(d.codelist)) for d in flow.dimensions),
        ),
        attributes=(
            Component("OBS_STATUS", ref(Standard.OBS_STATUS)),
            Component("CONF_STATUS", ref(Standard.CONF_STATUS)),
            Component("UNIT_MEASURE", ref(Standard.UNIT_MEASURE), level="series"),
            Component("UNIT_MULT", ref(Standard.UNIT_MULT), level="series"),
            Component("STD_ERROR", None, mandatory=False),
        ),
    )


_V = TypeVar("_V", Codelist, ConceptScheme, DataStructure)


def _latest(artefacts: Iterable[_V], agency: str, id: str) -> _V | None:
    matching = [a for a in artefacts if (a.agency, a.id) == (agency, id)]
    return max(matching, key=lambda a: version_key(a.version)) if matching else None


def _merge(kept: Iterable[_V], current: Iterable[_V]) -> tuple[_V, ...]:
    """Every artefact once, by (agency, id, version), ordered by id then version."""
    merged: dict[tuple[str, str, str], _V] = {}
    for artefact in chain(kept, current):
        key = (artefact.agency, artefact.id, artefact.version)
        if key in merged and merged[key] != artefact:
            raise VersionConflict(
                f"{artefact.agency}:{artefact.id}({artefact.version}) would be published "
                "with two different contents; give the new one a higher version"
            )
        merged[key] = artefact
    return tuple(
        merged[key] for key in sorted(merged, key=lambda k: (k[0], k[1], version_key(k[2])))
    )


def _same_concepts(
    earlier: DataStructure,
    current: DataStructure,
    kept_schemes: Sequence[ConceptScheme],
    scheme: ConceptScheme,
) -> bool:
    """Whether the concepts ``current`` uses are named in ``scheme`` as in the scheme
    ``earlier`` refers to (so ``current`` may keep referring to that one)."""
    if earlier.concepts == current.concepts:
        return True
    matching = [kept for kept in kept_schemes if Reference.to(kept) == earlier.concepts]
    if not matching:
        return False
    used = {"TIME_PERIOD", "OBS_VALUE"} | {
        component.id for component in (*current.dimensions, *current.attributes)
    }
    before = {concept.id: concept.name for concept in matching[0].concepts}
    now = {concept.id: concept.name for concept in scheme.concepts}
    return all(concept in before and before[concept] == now.get(concept) for concept in used)


@dataclass(frozen=True)
class Release:
    """Every structure of one structure message, current and earlier versions.

    ``flows`` are the current flows with the versions they are published under (pass
    these to the data writers); a release read back from a message has none.
    """

    codelists: tuple[Codelist, ...]
    concept_schemes: tuple[ConceptScheme, ...]
    structures: tuple[DataStructure, ...]
    flows: tuple[Flow, ...] = ()

    @classmethod
    def build(
        cls,
        flows: Sequence[Flow],
        registry: CodelistRegistry,
        *,
        previous: Release | None = None,
    ) -> Release:
        """The structures of ``flows``, versioned against ``previous``, whose structures
        are all kept.

        Each codelist, the concept scheme and each flow's data structure get their
        version by the rule of :mod:`integration.indicators.sdmx.versions`. A data
        structure whose only difference is a newer concept scheme, in which the
        concepts it uses are unchanged, keeps its version and its reference to the
        earlier scheme: adding one flow does not give every other flow a new version.
        """
        ids = [flow.id for flow in flows]
        if len(set(ids)) != len(ids):
            raise FlowInvalid(f"flow ids repeat: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
        kept_codelists = previous.codelists if previous else ()
        kept_schemes = previous.concept_schemes if previous else ()
        kept_structures = previous.structures if previous else ()

        used: list[str] = [
            Standard.AREA,
            Standard.FREQ,
            Standard.OBS_STATUS,
            Standard.CONF_STATUS,
            Standard.UNIT_MEASURE,
            Standard.UNIT_MULT,
        ]
        for flow in flows:
            used.extend(d.codelist for d in flow.dimensions if d.codelist not in used)
        current: dict[str, Codelist] = {}
        for codelist_id in used:
            codelist = registry.codelist(codelist_id)
            earlier = _latest(kept_codelists, codelist.agency, codelist.id)
            current[codelist_id] = replace(codelist, version=codelist_version(earlier, codelist))

        scheme = concept_scheme(flows, registry)
        earlier_scheme = _latest(kept_schemes, scheme.agency, scheme.id)
        scheme = replace(scheme, version=concept_scheme_version(earlier_scheme, scheme))

        structures: list[DataStructure] = []
        released: list[Flow] = []
        for flow in flows:
            structure = data_structure(flow, current, concepts=scheme)
            earlier_structure = _latest(kept_structures, structure.agency, structure.id)
            if earlier_structure is not None and _same_concepts(
                earlier_structure, structure, kept_schemes, scheme
            ):
                # Only the concept scheme moved on (another flow's concept was added):
                # the earlier structure, referring to the earlier scheme, still holds.
                structure = replace(structure, concepts=earlier_structure.concepts)
            version = structure_version(earlier_structure, structure)
            structures.append(replace(structure, version=version))
            released.append(replace(flow, version=version))

        return cls(
            codelists=_merge(kept_codelists, current.values()),
            concept_schemes=_merge(kept_schemes, [scheme]),
            structures=_merge(kept_structures, structures),
            flows=tuple(released),
        )

    def codelist(self, codelist_id: str, version: str | None = None) -> Codelist:
        """The codelist with this id at ``version`` (default: its latest)."""
        return self._find(self.codelists, codelist_id, version)

    def structure(self, flow_id: str, version: str | None = None) -> DataStructure:
        """The data structure of the flow with this id at ``version`` (default: latest)."""
        return self._find(self.structures, flow_id, version)

    def flow(self, flow_id: str) -> Flow:
        """The current flow with this id, at the version it is published under."""
        for flow in self.flows:
            if flow.id == flow_id:
                return flow
        raise StructureUnknown(f"flow {flow_id} is not part of the release")

    @staticmethod
    def _find(artefacts: Sequence[_V], id: str, version: str | None) -> _V:
        if version is not None:
            check_version(version, what=id)
        matching = [a for a in artefacts if a.id == id and version in (None, a.version)]
        if not matching:
            raise StructureUnknown(f"{id}({version or 'latest'}) is not part of the release")
        return max(matching, key=lambda a: version_key(a.version))
