"""SDMX-JSON data messages (version 1.0, the one SDMX 2.1 web services answer with).

The layout is the flat one of the standard's samples: REF_AREA and FREQ, which have a
single value in a flow's message, at the ``dataSet`` level; the flow's own dimensions
and TIME_PERIOD at the ``observation`` level, each observation keyed by the indices of
its codes (``"0:3:1:7"``). Every attribute is given per observation — OBS_STATUS,
CONF_STATUS and STD_ERROR belong there, UNIT_MEASURE and UNIT_MULT (series attributes
in the data structure) are repeated — because readers such as ``sdmx1`` ignore
attribute values at the ``dataSet`` level. STD_ERROR is listed only when some
observation has one. A suppressed value is ``null``.

The observations are written column-wise: the values a code column holds become the
component's ``values`` (in codelist order; time periods sorted), each row's index among
them is computed with Arrow compute, and the key and value strings are joined with
Arrow string compute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from integration.indicators.sdmx.codelists import CodelistRegistry, Standard
from integration.indicators.sdmx.model import Codelist, Flow
from integration.indicators.sdmx.observations import SdmxObservations, sdmx_observations
from integration.indicators.sdmx.structures import STANDARD_CONCEPTS

_CONCEPT_NAMES = {concept.id: concept.name for concept in STANDARD_CONCEPTS}
_PLACEHOLDER = "@@observations@@"
_URN = "urn:sdmx:org.sdmx.infomodel.datastructure"


def data_json(
    flow: Flow,
    observations: pa.Table,
    registry: CodelistRegistry,
    *,
    ref_area: str,
    prepared: datetime,
    sender: str = "LMIS",
) -> bytes:
    """The SDMX-JSON 1.0 data message of ``flow``'s observations."""
    data = sdmx_observations(flow, observations, registry, ref_area=ref_area)
    return json_message(data, registry, prepared=prepared, sender=sender)


def _encoding(
    column: pa.StringArray, order: Sequence[str] | None
) -> tuple[list[str], pa.StringArray]:
    """The values ``column`` holds, in ``order`` (default: sorted), and each row's index
    among them, as text."""
    present = pc.unique(column).to_pylist()
    ordered = sorted(present) if order is None else [v for v in order if v in set(present)]
    indices = pc.index_in(column, value_set=pa.array(ordered, pa.string()))
    return ordered, pc.cast(indices, pa.string())


def _values(codes: Sequence[str], codelist: Codelist) -> list[dict[str, str]]:
    return [{"id": code, "name": codelist.name_of(code)} for code in codes]


def json_message(
    data: SdmxObservations, registry: CodelistRegistry, *, prepared: datetime, sender: str
) -> bytes:
    """The SDMX-JSON 1.0 data message of observations already recoded."""
    flow = data.flow
    dataflow_urn = f"{_URN}.Dataflow={flow.urn_id}"
    dsd_urn = f"{_URN}.DataStructure={flow.agency}:DSD_{flow.id}({flow.version})"
    area = registry.codelist(Standard.AREA)
    freq = registry.codelist(Standard.FREQ)

    encoded = {
        component: _encoding(pc.cast(codes, pa.string()), data.codelists[component].code_ids)
        for component, codes in data.codes.items()
    }
    times, time_indices = _encoding(data.time_period, None)
    observation_dimensions: list[dict[str, Any]] = [
        {
            "id": dimension.id,
            "name": data.codelists[dimension.id].name,
            "keyPosition": position,
            "values": _values(encoded[dimension.id][0], data.codelists[dimension.id]),
        }
        for position, dimension in enumerate(flow.dimensions, start=2)
    ]
    observation_dimensions.append(
        {
            "id": "TIME_PERIOD",
            "name": _CONCEPT_NAMES["TIME_PERIOD"],
            "keyPosition": len(flow.dimensions) + 2,
            "roles": ["TIME_PERIOD"],
            "values": [{"id": period, "name": period} for period in times],
        }
    )
    series = {"dimensions": ["REF_AREA", "FREQ", *data.dimension_ids]}
    measure = {"primaryMeasure": "OBS_VALUE"}
    units = registry.codelist(Standard.UNIT_MEASURE)
    multipliers = registry.codelist(Standard.UNIT_MULT)
    attributes: list[dict[str, Any]] = [
        _attribute(
            "OBS_STATUS",
            measure,
            _values(encoded["OBS_STATUS"][0], data.codelists["OBS_STATUS"]),
        ),
        _attribute(
            "CONF_STATUS",
            measure,
            _values(encoded["CONF_STATUS"][0], data.codelists["CONF_STATUS"]),
        ),
        _attribute("UNIT_MEASURE", series, _values([flow.unit], units)),
        _attribute("UNIT_MULT", series, _values([data.unit_mult], multipliers)),
    ]
    parts: list[pa.Array | pa.Scalar] = [
        pc.fill_null(pc.cast(data.obs_value, pa.string()), "null"),
        encoded["OBS_STATUS"][1],
        encoded["CONF_STATUS"][1],
        pa.scalar("0"),
        pa.scalar("0"),
    ]
    if data.std_error is not None and data.std_error.null_count < len(data.std_error):
        errors = pc.dictionary_encode(pc.cast(data.std_error, pa.string()))
        attributes.append(
            _attribute(
                "STD_ERROR",
                measure,
                [{"name": value} for value in errors.dictionary.to_pylist()],
            )
        )
        parts.append(pc.fill_null(pc.cast(errors.indices, pa.string()), "null"))

    document = {
        "header": {
            "id": f"LMIS-{flow.id}-{prepared:%Y%m%dT%H%M%S}",
            "test": False,
            "prepared": prepared.isoformat(timespec="seconds"),
            "sender": {"id": sender},
        },
        "structure": {
            "links": [
                {"urn": dataflow_urn, "rel": "dataflow"},
                {"urn": dsd_urn, "rel": "datastructure"},
            ],
            "name": flow.name,
            "description": flow.description,
            "dimensions": {
                "dataSet": [
                    _single("REF_AREA", 0, data.ref_area, area),
                    _single("FREQ", 1, flow.frequency, freq),
                ],
                "series": [],
                "observation": observation_dimensions,
            },
            "attributes": {"dataSet": [], "series": [], "observation": attributes},
        },
        "dataSets": [
            {
                "links": [{"urn": dataflow_urn, "rel": "dataflow"}],
                "action": "Information",
                "observations": _PLACEHOLDER,
            }
        ],
    }
    head, tail = json.dumps(document, ensure_ascii=False).split(f'"{_PLACEHOLDER}"')
    if len(data):
        keys = pc.binary_join_element_wise(
            *(encoded[d][1] for d in data.dimension_ids), time_indices, ":"
        )
        entries = pc.binary_join_element_wise(
            pa.scalar('"'),
            keys,
            pa.scalar('":['),
            pc.binary_join_element_wise(*parts, ","),
            pa.scalar("]"),
            "",
        )
        body = "{" + ",".join(entries.to_pylist()) + "}"
    else:
        body = "{}"
    return (head + body + tail).encode("utf-8")


def _single(id: str, position: int, code: str, codelist: Codelist) -> dict[str, Any]:
    return {
        "id": id,
        "name": _CONCEPT_NAMES[id],
        "keyPosition": position,
        "roles": [id],
        "values": [{"id": code, "name": codelist.name_of(code)}],
    }


def _attribute(
    id: str, relationship: dict[str, Any], values: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "id": id,
        "name": _CONCEPT_NAMES[id],
        "roles": [id],
        "relationship": relationship,
        "values": values,
    }
