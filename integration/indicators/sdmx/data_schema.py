"""The XML schema of a flow's structure-specific data messages.

SDMX 2.1 validates a structure-specific data message against its data structure with
a schema derived from that structure (what registries serve as the dataflow's
"schema"): it restricts the standard ``DataSetType`` and ``ObsType`` so that every
dimension and attribute is an XML attribute whose type enumerates its codelist.
:func:`data_schema` writes that schema for the flat form :mod:`data_xml` writes; with
the standard SDMX-ML 2.1 schemas (``SDMXDataStructureSpecific.xsd`` and
``SDMXCommon.xsd``, found at ``base``), any XML Schema validator then checks a data
message against the data structure: a code outside its codelist, a missing dimension
or mandatory attribute, a time period not of the flow's frequency, a value that is not
a number.
"""

from __future__ import annotations

from integration.indicators.sdmx.data_xml import structure_namespace
from integration.indicators.sdmx.errors import StructureUnknown
from integration.indicators.sdmx.model import Flow
from integration.indicators.sdmx.observations import TIME_PERIOD_PATTERNS
from integration.indicators.sdmx.sdmx_ml import COM, MES, SS, XS, root, serialise, sub
from integration.indicators.sdmx.structures import Reference, Release


def _type_name(ref: Reference) -> str:
    return f"{ref.agency}.{ref.id}.{ref.version}"


def data_schema(flow: Flow, release: Release, *, base: str) -> bytes:
    """The schema of ``flow``'s structure-specific data (``flow`` at its release version).

    ``base`` is where the standard SDMX-ML 2.1 schemas are, as a URI or path prefix
    ending in ``/``.
    """
    structure = release.structure(flow.id, flow.version)
    namespace = structure_namespace(flow)
    schema = root(
        "xs:schema",
        {"xs": XS, "": namespace, "dsd": SS, "common": COM},
        targetNamespace=namespace,
        elementFormDefault="qualified",
        attributeFormDefault="unqualified",
    )

    # The message schema too, so that this schema validates whole data messages.
    sub(schema, "xs:import", namespace=MES, schemaLocation=f"{base}SDMXMessage.xsd")
    sub(schema, "xs:import", namespace=SS, schemaLocation=f"{base}SDMXDataStructureSpecific.xsd")
    sub(schema, "xs:import", namespace=COM, schemaLocation=f"{base}SDMXCommon.xsd")

    for ref in dict.fromkeys(structure.codelists()):
        try:
            codelist = release.codelist(ref.id, ref.version)
        except StructureUnknown:
            raise StructureUnknown(
                f"flow {flow.id}: the release lacks codelist {ref}, which its structure uses"
            ) from None
        codes = sub(
            sub(schema, "xs:simpleType", name=_type_name(ref)),
            "xs:restriction",
            base="common:IDType",
        )
        for code in codelist.codes:
            sub(codes, "xs:enumeration", value=code.id)
    periods = sub(
        sub(schema, "xs:simpleType", name="TimePeriod"),
        "xs:restriction",
        base="common:ObservationalTimePeriodType",
    )
    sub(periods, "xs:pattern", value=TIME_PERIOD_PATTERNS[flow.frequency].strip("^$"))

    data_set = sub(
        sub(sub(schema, "xs:complexType", name="DataSetType"), "xs:complexContent"),
        "xs:restriction",
        base="dsd:DataSetType",
    )
    sequence = sub(data_set, "xs:sequence")
    sub(sequence, "xs:element", ref="common:Annotations", minOccurs="0")
    sub(
        sequence,
        "xs:element",
        name="DataProvider",
        type="common:DataProviderReferenceType",
        form="unqualified",
        minOccurs="0",
    )
    sub(
        sub(sequence, "xs:choice", minOccurs="0"),
        "xs:element",
        name="Obs",
        type="ObsType",
        form="unqualified",
        maxOccurs="unbounded",
    )
    sub(
        data_set,
        "xs:attribute",
        name="REPORTING_YEAR_START_DAY",
        type="xs:gMonthDay",
        use="prohibited",
    )

    obs = sub(
        sub(sub(schema, "xs:complexType", name="ObsType"), "xs:complexContent"),
        "xs:restriction",
        base="dsd:ObsType",
    )
    sub(sub(obs, "xs:sequence"), "xs:element", ref="common:Annotations", minOccurs="0")
    for dimension in structure.dimensions:
        if dimension.codelist is None:
            raise StructureUnknown(f"flow {flow.id}: dimension {dimension.id} has no codelist")
        sub(
            obs,
            "xs:attribute",
            name=dimension.id,
            type=_type_name(dimension.codelist),
            use="required",
        )
    sub(obs, "xs:attribute", name="TIME_PERIOD", type="TimePeriod", use="required")
    sub(obs, "xs:attribute", name="OBS_VALUE", type="xs:double", use="optional")
    for attribute in structure.attributes:
        sub(
            obs,
            "xs:attribute",
            name=attribute.id,
            type="xs:double" if attribute.codelist is None else _type_name(attribute.codelist),
            use="required" if attribute.mandatory else "optional",
        )
    sub(obs, "xs:attribute", name="type", type="common:IDType", use="prohibited")
    sub(obs, "xs:attribute", name="REPORTING_YEAR_START_DAY", type="xs:gMonthDay", use="prohibited")
    return serialise(schema)
