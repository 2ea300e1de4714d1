"""SDMX-ML 2.1 structure-specific data messages, the flat form.

The header names the dataflow (``<common:StructureUsage>``) with
``dimensionAtObservation="AllDimensions"``; the data set holds one ``<Obs>`` element
per observation whose XML attributes are the key (REF_AREA, FREQ, the flow's
dimensions, TIME_PERIOD), OBS_VALUE (left out where suppressed) and the attributes
(STD_ERROR left out where there is none). This is the form an SDMX 2.1 reader checks
against the data structure: the structure-specific format carries no code that the
data structure does not define a component for.

The ``<Obs>`` elements are written column-wise with Arrow string compute: every value
is an SDMX id, a time period or a number, none needs escaping.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from integration.indicators.sdmx.codelists import CodelistRegistry
from integration.indicators.sdmx.model import Flow
from integration.indicators.sdmx.observations import SdmxObservations, sdmx_observations
from integration.indicators.sdmx.sdmx_ml import COM, MES, SS, XSI, root, serialise, sub

_PLACEHOLDER = "@@observations@@"


def data_xml(
    flow: Flow,
    observations: pa.Table,
    registry: CodelistRegistry,
    *,
    ref_area: str,
    prepared: datetime,
    sender: str = "LMIS",
) -> bytes:
    """The SDMX-ML 2.1 structure-specific data message of ``flow``'s observations."""
    data = sdmx_observations(flow, observations, registry, ref_area=ref_area)
    return xml_message(data, prepared=prepared, sender=sender)


def structure_namespace(flow: Flow) -> str:
    """The namespace of the flow's structure-specific elements (SDMX 2.1 convention)."""
    return (
        f"urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow={flow.urn_id}"
        ":ObsLevelDim:AllDimensions"
    )


def _attribute(name: str, values: pa.Array) -> pa.Array:
    """`` NAME="value"`` per row, empty where the value is null."""
    joined = pc.binary_join_element_wise(pa.scalar(f' {name}="'), values, pa.scalar('"'), "")
    return pc.fill_null(joined, "")


def xml_message(data: SdmxObservations, *, prepared: datetime, sender: str) -> bytes:
    """The structure-specific data message of observations already recoded."""
    flow = data.flow
    namespace = structure_namespace(flow)
    structure_id = f"{flow.agency}_{flow.id}_{flow.version.replace('.', '_')}"
    message = root(
        "message:StructureSpecificData",
        {"message": MES, "common": COM, "ss": SS, "xsi": XSI, "ns1": namespace},
    )
    header = sub(message, "message:Header")
    sub(header, "message:ID", f"LMIS-{flow.id}-{prepared:%Y%m%dT%H%M%S}")
    sub(header, "message:Test", "false")
    sub(header, "message:Prepared", prepared.isoformat(timespec="seconds"))
    sub(header, "message:Sender", id=sender)
    structure = sub(
        header,
        "message:Structure",
        structureID=structure_id,
        namespace=namespace,
        dimensionAtObservation="AllDimensions",
    )
    usage = sub(structure, "common:StructureUsage")
    sub(
        usage,
        "Ref",
        agencyID=flow.agency,
        id=flow.id,
        version=flow.version,
        package="datastructure",
        **{"class": "Dataflow"},
    )
    data_set = sub(
        message,
        "message:DataSet",
        **{
            "ss:structureRef": structure_id,
            "ss:dataScope": "Dataflow",
            "xsi:type": "ns1:DataSetType",
            "ss:action": "Information",
        },
    )
    data_set.text = _PLACEHOLDER
    head, tail = serialise(message).split(_PLACEHOLDER.encode())

    if not len(data):
        return bytes(head + tail)
    pieces: list[pa.Array | pa.Scalar] = [
        pa.scalar(f'\n    <Obs REF_AREA="{data.ref_area}" FREQ="{flow.frequency}"'),
        *(_attribute(d, pc.cast(data.codes[d], pa.string())) for d in data.dimension_ids),
        _attribute("TIME_PERIOD", data.time_period),
        _attribute("OBS_VALUE", pc.cast(data.obs_value, pa.string())),
        _attribute("OBS_STATUS", pc.cast(data.codes["OBS_STATUS"], pa.string())),
        _attribute("CONF_STATUS", pc.cast(data.codes["CONF_STATUS"], pa.string())),
        pa.scalar(f' UNIT_MEASURE="{flow.unit}" UNIT_MULT="{data.unit_mult}"'),
    ]
    if data.std_error is not None:
        pieces.append(_attribute("STD_ERROR", pc.cast(data.std_error, pa.string())))
    pieces.append(pa.scalar("/>"))
    rows = pc.binary_join_element_wise(*pieces, "")
    body = "".join(rows.to_pylist()) + "\n  "
    return bytes(head + body.encode("utf-8") + tail)
