"""SDMX-ML 2.1 structure messages: write a release's structures, read them back.

The message holds, in the order ``SDMXStructure.xsd`` requires, the dataflows, the
codelists, the concept schemes and the data structure definitions of a
:class:`~integration.indicators.sdmx.structures.Release`. Every artefact is final
(``isFinal="true"``): a published version never changes, a change is a new version
(:mod:`integration.indicators.sdmx.versions`). References are ``<Ref>`` elements with
agency, id, version, package and class.

:func:`read_release` reads such a message back, so that the previous release's message
is all the hub needs to keep to version the next one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from integration.indicators.sdmx.codelists import CodelistRegistry
from integration.indicators.sdmx.errors import StructureMessageInvalid
from integration.indicators.sdmx.model import Code, Codelist, Flow
from integration.indicators.sdmx.sdmx_ml import COM, MES, STR, root, serialise, sub
from integration.indicators.sdmx.structures import (
    Component,
    ConceptScheme,
    DataStructure,
    Reference,
    Release,
)

_URN = "urn:sdmx:org.sdmx.infomodel"


def structure_message(
    flows: Sequence[Flow],
    registry: CodelistRegistry,
    *,
    prepared: datetime,
    sender: str,
    previous: Release | None = None,
) -> bytes:
    """The structure message of ``flows``: their codelists, concept scheme, data
    structures and dataflows, versioned against ``previous`` (whose structures it
    carries too). Use :meth:`Release.build` first when the data writers need the
    versions the flows are published under."""
    return release_message(
        Release.build(flows, registry, previous=previous), prepared=prepared, sender=sender
    )


def release_message(release: Release, *, prepared: datetime, sender: str) -> bytes:
    """The SDMX-ML 2.1 structure message holding every structure of ``release``."""
    message = root("mes:Structure", {"mes": MES, "str": STR, "com": COM})
    header = sub(message, "mes:Header")
    sub(header, "mes:ID", f"LMIS-STRUCTURES-{prepared:%Y%m%dT%H%M%S}")
    sub(header, "mes:Test", "false")
    sub(header, "mes:Prepared", prepared.isoformat(timespec="seconds"))
    sub(header, "mes:Sender", id=sender)
    structures = sub(message, "mes:Structures")

    if release.structures:
        dataflows = sub(structures, "str:Dataflows")
        for structure in release.structures:
            _dataflow(dataflows, structure)
    if release.codelists:
        codelists = sub(structures, "str:Codelists")
        for codelist in release.codelists:
            _codelist(codelists, codelist)
    if release.concept_schemes:
        concepts = sub(structures, "str:Concepts")
        for scheme in release.concept_schemes:
            _concept_scheme(concepts, scheme)
    if release.structures:
        dsds = sub(structures, "str:DataStructures")
        for structure in release.structures:
            _data_structure(dsds, structure)
    return serialise(message)


def _named(parent: ET.Element, name: str, description: str | None = None) -> None:
    sub(parent, "com:Name", name, **{"xml:lang": "en"})
    if description:
        sub(parent, "com:Description", description, **{"xml:lang": "en"})


def _maintainable(
    parent: ET.Element, tag: str, urn_class: str, agency: str, id: str, version: str
) -> ET.Element:
    return sub(
        parent,
        f"str:{tag}",
        id=id,
        agencyID=agency,
        version=version,
        isFinal="true",
        urn=f"{_URN}.{urn_class}={agency}:{id}({version})",
    )


def _ref(parent: ET.Element, ref: Reference, package: str, cls: str) -> None:
    sub(
        parent,
        "Ref",
        id=ref.id,
        agencyID=ref.agency,
        version=ref.version,
        package=package,
        **{"class": cls},
    )


def _dataflow(parent: ET.Element, structure: DataStructure) -> None:
    element = _maintainable(
        parent,
        "Dataflow",
        "datastructure.Dataflow",
        structure.agency,
        structure.id,
        structure.version,
    )
    _named(element, structure.name, structure.description)
    dsd = Reference(structure.agency, structure.dsd_id, structure.version)
    _ref(sub(element, "str:Structure"), dsd, "datastructure", "DataStructure")


def _codelist(parent: ET.Element, codelist: Codelist) -> None:
    element = _maintainable(
        parent, "Codelist", "codelist.Codelist", codelist.agency, codelist.id, codelist.version
    )
    _named(element, codelist.name)
    for code in codelist.codes:
        _named(sub(element, "str:Code", id=code.id), code.name)


def _concept_scheme(parent: ET.Element, scheme: ConceptScheme) -> None:
    element = _maintainable(
        parent,
        "ConceptScheme",
        "conceptscheme.ConceptScheme",
        scheme.agency,
        scheme.id,
        scheme.version,
    )
    _named(element, scheme.name)
    for concept in scheme.concepts:
        _named(sub(element, "str:Concept", id=concept.id), concept.name)


def _concept_identity(parent: ET.Element, concepts: Reference, concept_id: str) -> None:
    sub(
        sub(parent, "str:ConceptIdentity"),
        "Ref",
        id=concept_id,
        maintainableParentID=concepts.id,
        maintainableParentVersion=concepts.version,
        agencyID=concepts.agency,
        package="conceptscheme",
        **{"class": "Concept"},
    )


def _representation(parent: ET.Element, codelist: Reference | None, text_type: str) -> None:
    representation = sub(parent, "str:LocalRepresentation")
    if codelist is None:
        sub(representation, "str:TextFormat", textType=text_type)
    else:
        _ref(sub(representation, "str:Enumeration"), codelist, "codelist", "Codelist")


def _data_structure(parent: ET.Element, structure: DataStructure) -> None:
    element = _maintainable(
        parent,
        "DataStructure",
        "datastructure.DataStructure",
        structure.agency,
        structure.dsd_id,
        structure.version,
    )
    _named(element, structure.name)
    components = sub(element, "str:DataStructureComponents")
    dimensions = sub(components, "str:DimensionList", id="DimensionDescriptor")
    for position, dimension in enumerate(structure.dimensions, start=1):
        node = sub(dimensions, "str:Dimension", id=dimension.id, position=str(position))
        _concept_identity(node, structure.concepts, dimension.id)
        _representation(node, dimension.codelist, "String")
    time = sub(
        dimensions,
        "str:TimeDimension",
        id="TIME_PERIOD",
        position=str(len(structure.dimensions) + 1),
    )
    _concept_identity(time, structure.concepts, "TIME_PERIOD")
    _representation(time, None, "ObservationalTimePeriod")

    attributes = sub(components, "str:AttributeList", id="AttributeDescriptor")
    for attribute in structure.attributes:
        node = sub(
            attributes,
            "str:Attribute",
            id=attribute.id,
            assignmentStatus="Mandatory" if attribute.mandatory else "Conditional",
        )
        _concept_identity(node, structure.concepts, attribute.id)
        _representation(node, attribute.codelist, "Double")
        relationship = sub(node, "str:AttributeRelationship")
        if attribute.level == "series":
            for dimension in structure.dimensions:
                sub(sub(relationship, "str:Dimension"), "Ref", id=dimension.id)
        else:
            sub(sub(relationship, "str:PrimaryMeasure"), "Ref", id="OBS_VALUE")

    measures = sub(components, "str:MeasureList", id="MeasureDescriptor")
    measure = sub(measures, "str:PrimaryMeasure", id="OBS_VALUE")
    _concept_identity(measure, structure.concepts, "OBS_VALUE")
    _representation(measure, None, "Double")


# Reading a message back.


def read_release(message: bytes) -> Release:
    """The structures of a structure message written by :func:`release_message`."""
    try:
        # The hub's own earlier message, not outside input; expat refuses entity bombs.
        document = ET.fromstring(message)  # noqa: S314
    except ET.ParseError as error:
        raise StructureMessageInvalid(f"the structure message is not XML: {error}") from error
    if document.tag != f"{{{MES}}}Structure":
        raise StructureMessageInvalid(
            f"the root element is {document.tag}, not an SDMX-ML 2.1 Structure"
        )
    ns = {"str": STR, "com": COM}
    codelists = tuple(
        Codelist(
            id=_attr(element, "id"),
            agency=_attr(element, "agencyID"),
            version=_attr(element, "version"),
            name=_name(element),
            codes=tuple(
                Code(_attr(code, "id"), _name(code)) for code in element.findall("str:Code", ns)
            ),
        )
        for element in document.iterfind(".//str:Codelists/str:Codelist", ns)
    )
    schemes = tuple(
        ConceptScheme(
            id=_attr(element, "id"),
            agency=_attr(element, "agencyID"),
            version=_attr(element, "version"),
            name=_name(element),
            concepts=tuple(
                Code(_attr(concept, "id"), _name(concept))
                for concept in element.findall("str:Concept", ns)
            ),
        )
        for element in document.iterfind(".//str:Concepts/str:ConceptScheme", ns)
    )
    dsds = {
        (_attr(element, "agencyID"), _attr(element, "id"), _attr(element, "version")): element
        for element in document.iterfind(".//str:DataStructures/str:DataStructure", ns)
    }
    structures = []
    for flow in document.iterfind(".//str:Dataflows/str:Dataflow", ns):
        ref = flow.find("str:Structure/Ref", ns)
        if ref is None:
            raise StructureMessageInvalid(f"dataflow {_attr(flow, 'id')} names no structure")
        key = (_attr(ref, "agencyID"), _attr(ref, "id"), _attr(ref, "version"))
        if key not in dsds:
            raise StructureMessageInvalid(
                f"dataflow {_attr(flow, 'id')} refers to a missing data structure {key}"
            )
        structures.append(_read_structure(flow, dsds[key], ns))
    return Release(codelists=codelists, concept_schemes=schemes, structures=tuple(structures))


def _attr(element: ET.Element, name: str) -> str:
    value = element.get(name)
    if value is None:
        raise StructureMessageInvalid(f"a {element.tag.rpartition('}')[2]} lacks {name}")
    return str(value)


def _name(element: ET.Element) -> str:
    name = element.find(f"{{{COM}}}Name")
    return "" if name is None or name.text is None else str(name.text)


def _description(element: ET.Element) -> str:
    description = element.find(f"{{{COM}}}Description")
    return "" if description is None or description.text is None else str(description.text)


def _reference(ref: ET.Element | None) -> Reference | None:
    if ref is None:
        return None
    return Reference(_attr(ref, "agencyID"), _attr(ref, "id"), _attr(ref, "version"))


def _read_structure(flow: ET.Element, dsd: ET.Element, ns: dict[str, str]) -> DataStructure:
    concept = dsd.find(".//str:ConceptIdentity/Ref", ns)
    if concept is None:
        raise StructureMessageInvalid(f"data structure {_attr(dsd, 'id')} has no concepts")
    concepts = Reference(
        _attr(concept, "agencyID"),
        _attr(concept, "maintainableParentID"),
        _attr(concept, "maintainableParentVersion"),
    )
    dimensions = tuple(
        Component(_attr(element, "id"), _reference(element.find(".//str:Enumeration/Ref", ns)))
        for element in dsd.iterfind(".//str:DimensionList/str:Dimension", ns)
    )
    attributes = []
    for element in dsd.iterfind(".//str:AttributeList/str:Attribute", ns):
        level: Literal["observation", "series"] = (
            "observation"
            if element.find("str:AttributeRelationship/str:PrimaryMeasure", ns) is not None
            else "series"
        )
        attributes.append(
            Component(
                _attr(element, "id"),
                _reference(element.find(".//str:Enumeration/Ref", ns)),
                level=level,
                mandatory=element.get("assignmentStatus") == "Mandatory",
            )
        )
    return DataStructure(
        id=_attr(flow, "id"),
        agency=_attr(flow, "agencyID"),
        version=_attr(flow, "version"),
        name=_name(flow),
        description=_description(flow),
        concepts=concepts,
        dimensions=dimensions,
        attributes=tuple(attributes),
    )
