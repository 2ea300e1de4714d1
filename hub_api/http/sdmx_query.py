"""SDMX REST data queries over a published release's files: which file answers a
request (its format from ``Accept`` or ``format``) and the key and period filters,
applied to SDMX-CSV rows (the key's parts are the dimensions in key order, ``+`` joins
alternatives, an empty part matches everything)."""

from __future__ import annotations

from dataclasses import dataclass

from hub_api.http.errors import ApiError


class SdmxNotImplemented(ApiError):
    """This SDMX query is not offered; ask for SDMX-CSV (format=csv) to filter by key or
    period, or ask for the whole flow (key `all`) in JSON or XML."""

    code = "sdmx.not_implemented"
    http_status = 501


class SdmxFormatUnknown(ApiError):
    """The format asked for is not one the hub publishes; use csv, csv2, json or xml."""

    code = "sdmx.format_unknown"
    http_status = 406


@dataclass(frozen=True)
class Format:
    suffix: str
    media_type: str


FORMATS = {
    "csv": Format(".csv", "application/vnd.sdmx.data+csv; version=1.0.0; charset=utf-8"),
    "csv2": Format(".v2.csv", "application/vnd.sdmx.data+csv; version=2.0.0; charset=utf-8"),
    "json": Format(".json", "application/vnd.sdmx.data+json; version=1.0.0; charset=utf-8"),
    "xml": Format(
        ".xml", "application/vnd.sdmx.structurespecificdata+xml; version=2.1; charset=utf-8"
    ),
}


def choose_format(fmt: str | None, accept: str) -> Format:
    """``format`` wins; otherwise the first SDMX media type in ``Accept``; default XML."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise SdmxFormatUnknown(f"format={fmt!r}: use one of {', '.join(FORMATS)}")
        return FORMATS[fmt]
    accept = accept.lower()
    if "data+csv" in accept:
        return FORMATS["csv2" if "version=2" in accept else "csv"]
    if "data+json" in accept or "application/json" in accept:
        return FORMATS["json"]
    return FORMATS["xml"]


def filter_csv(text: str, key: str, start: str | None, end: str | None) -> str:
    """The SDMX-CSV message ``text`` with only the rows matching ``key`` and the period."""
    lines = text.split("\r\n")
    header = lines[0].split(",")
    first_dim = header.index("REF_AREA")
    period = header.index("TIME_PERIOD")
    dims = list(range(first_dim, period))
    wanted: list[set[str] | None] = [None] * len(dims)
    if key not in ("", "all"):
        parts = key.split(".")
        if len(parts) != len(dims):
            raise SdmxNotImplemented(
                f"key {key!r} has {len(parts)} parts; this flow's key has {len(dims)} "
                f"({'.'.join(header[i] for i in dims)})"
            )
        wanted = [set(p.split("+")) if p else None for p in parts]
    out = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        cells = line.split(",")
        if any(w is not None and cells[i] not in w for w, i in zip(wanted, dims, strict=True)):
            continue
        if start is not None and cells[period] < start:
            continue
        if end is not None and cells[period] > end:
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"
