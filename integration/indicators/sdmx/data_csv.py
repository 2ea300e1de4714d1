"""SDMX-CSV data messages (version 1.0, or 2.0 as SDMX 3.0 clients read it).

One header row, then one row per observation: the flow reference (1.0: ``DATAFLOW`` =
``AGENCY:ID(VERSION)``; 2.0: ``STRUCTURE`` = ``dataflow``, ``STRUCTURE_ID`` = the same
reference, ``ACTION`` = ``I``, information), the dimensions in key order (REF_AREA,
FREQ, the flow's own, TIME_PERIOD), ``OBS_VALUE`` (empty where suppressed), then every
attribute of the data structure (OBS_STATUS, CONF_STATUS, UNIT_MEASURE, UNIT_MULT,
STD_ERROR; empty where there is no value). Rows end with CRLF (RFC 4180). Codes are
SDMX ids and values numbers, so no field needs quoting.

The rows are built column-wise with Arrow string compute, not row by row.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from integration.indicators.sdmx.codelists import CodelistRegistry
from integration.indicators.sdmx.model import Flow
from integration.indicators.sdmx.observations import SdmxObservations, sdmx_observations

#: Attribute columns, in data structure order.
ATTRIBUTES = ("OBS_STATUS", "CONF_STATUS", "UNIT_MEASURE", "UNIT_MULT", "STD_ERROR")


def data_csv(
    flow: Flow,
    observations: pa.Table,
    registry: CodelistRegistry,
    *,
    ref_area: str,
    version: Literal["1.0", "2.0"] = "1.0",
) -> str:
    """The SDMX-CSV message of ``flow``'s observations (local codes mapped to SDMX)."""
    return csv_message(
        sdmx_observations(flow, observations, registry, ref_area=ref_area), version=version
    )


def csv_message(data: SdmxObservations, *, version: Literal["1.0", "2.0"] = "1.0") -> str:
    """The SDMX-CSV message of observations already recoded."""
    flow = data.flow
    dimensions = ("REF_AREA", "FREQ", *data.dimension_ids, "TIME_PERIOD")
    if version == "1.0":
        lead = ["DATAFLOW"]
        lead_values: list[pa.Scalar] = [pa.scalar(flow.urn_id)]
    else:
        lead = ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
        lead_values = [pa.scalar("dataflow"), pa.scalar(flow.urn_id), pa.scalar("I")]
    header = ",".join([*lead, *dimensions, "OBS_VALUE", *ATTRIBUTES])
    if not len(data):
        return header + "\r\n"

    fields: list[pa.Array | pa.Scalar] = [
        *lead_values,
        pa.scalar(data.ref_area),
        pa.scalar(flow.frequency),
        *(pc.cast(data.codes[d], pa.string()) for d in data.dimension_ids),
        data.time_period,
        pc.cast(data.obs_value, pa.string()),
        pc.cast(data.codes["OBS_STATUS"], pa.string()),
        pc.cast(data.codes["CONF_STATUS"], pa.string()),
        pa.scalar(flow.unit),
        pa.scalar(data.unit_mult),
        pa.scalar(None, pa.string())
        if data.std_error is None
        else pc.cast(data.std_error, pa.string()),
    ]
    rows = pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")
    return header + "\r\n" + "\r\n".join(rows.to_pylist()) + "\r\n"
