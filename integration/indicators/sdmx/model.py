"""The structures the SDMX messages are built from: codes, codelists, dimensions, flows.

A :class:`Flow` is one published indicator (a dataflow with its own data structure
definition). Its :class:`Dimension` entries name the column of the observations table
that holds the dimension's codes and the codelist those codes come from; REF_AREA,
FREQ and TIME_PERIOD are added to every flow's structure by the message writers.

Identifiers follow SDMX 2.1 (``SDMXCommonReferences.xsd``): codes are ``IDType``
(letters, digits, ``_ @ $ -``), artefact and component ids ``NCNameIDType`` (a letter
first), versions dot-separated numbers. The classes check them when built, so a bad id
fails where the flow or codelist is defined, not halfway through a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from integration.indicators.sdmx.errors import CodelistInvalid, FlowInvalid, VersionInvalid

#: SDMX ``IDType``: the ids of codes.
CODE_ID = re.compile(r"[A-Za-z0-9_@$\-]+")
#: SDMX ``NCNameIDType``: the ids of codelists, flows, dimensions and attributes.
ARTEFACT_ID = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
#: SDMX ``NestedNCNameIDType``: agency ids (``LMIS``, ``ILO.STAT``).
AGENCY_ID = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*(\.[A-Za-z][A-Za-z0-9_\-]*)*")
#: SDMX 2.1 ``VersionType``.
VERSION = re.compile(r"[0-9]+(\.[0-9]+)*")

#: Frequencies a flow may have (CL_FREQ codes).
FREQUENCIES = ("A", "Q", "M")
#: Component ids every flow's structure has; a flow's own dimensions may not use them.
RESERVED_IDS = frozenset(
    {
        "REF_AREA",
        "FREQ",
        "TIME_PERIOD",
        "OBS_VALUE",
        "OBS_STATUS",
        "CONF_STATUS",
        "UNIT_MEASURE",
        "UNIT_MULT",
        "STD_ERROR",
    }
)
#: Columns of the observations table that are not dimensions.
RESERVED_COLUMNS = frozenset(
    {"time_period", "obs_value", "obs_status", "conf_status", "standard_error"}
)


def check_version(version: str, *, what: str) -> None:
    """Raise :class:`VersionInvalid` unless ``version`` is dot-separated numbers."""
    if not VERSION.fullmatch(version):
        raise VersionInvalid(f"{what}: version {version!r} is not like '1.0'")


@dataclass(frozen=True)
class Code:
    """One code of a codelist: its SDMX id and its English name."""

    id: str
    name: str


@dataclass(frozen=True)
class Codelist:
    """An SDMX codelist at one version (``agency:id(version)``)."""

    id: str
    name: str
    version: str
    codes: tuple[Code, ...]
    agency: str = "LMIS"
    _by_id: dict[str, Code] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not ARTEFACT_ID.fullmatch(self.id):
            raise CodelistInvalid(f"codelist id {self.id!r} is not an SDMX id")
        if not AGENCY_ID.fullmatch(self.agency):
            raise CodelistInvalid(f"codelist {self.id}: agency {self.agency!r} is not valid")
        check_version(self.version, what=f"codelist {self.id}")
        by_id: dict[str, Code] = {}
        for code in self.codes:
            if not CODE_ID.fullmatch(code.id):
                raise CodelistInvalid(f"codelist {self.id}: code {code.id!r} is not an SDMX id")
            if code.id in by_id:
                raise CodelistInvalid(f"codelist {self.id}: code {code.id!r} appears twice")
            by_id[code.id] = code
        object.__setattr__(self, "_by_id", by_id)

    @property
    def urn_id(self) -> str:
        """The ``AGENCY:ID(VERSION)`` form used in references."""
        return f"{self.agency}:{self.id}({self.version})"

    @property
    def code_ids(self) -> tuple[str, ...]:
        """The code ids in codelist order."""
        return tuple(code.id for code in self.codes)

    def get(self, code_id: str) -> Code | None:
        """The code with this id, or ``None``."""
        return self._by_id.get(code_id)

    def name_of(self, code_id: str) -> str:
        """The name of the code with this id; ``KeyError`` if the codelist lacks it."""
        return self._by_id[code_id].name

    def __contains__(self, code_id: object) -> bool:
        return code_id in self._by_id

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class Dimension:
    """A dimension of a flow: the observations column, its SDMX id, its codelist id."""

    column: str
    id: str
    codelist: str


@dataclass(frozen=True)
class Flow:
    """One published indicator: a dataflow and the data structure it uses.

    ``unit`` is a UNIT_MEASURE code (``PT`` percent, ``PS`` persons, ``XDC`` local
    currency, ``DAYS``); ``frequency`` is ``A``, ``Q`` or ``M``. The dimensions come in
    key order, after REF_AREA and FREQ and before TIME_PERIOD.
    """

    id: str
    version: str
    name: str
    description: str
    unit: str
    frequency: str
    dimensions: tuple[Dimension, ...]
    agency: str = "LMIS"

    def __post_init__(self) -> None:
        if not ARTEFACT_ID.fullmatch(self.id):
            raise FlowInvalid(f"flow id {self.id!r} is not an SDMX id")
        if not AGENCY_ID.fullmatch(self.agency):
            raise FlowInvalid(f"flow {self.id}: agency {self.agency!r} is not valid")
        if not VERSION.fullmatch(self.version):
            raise FlowInvalid(f"flow {self.id}: version {self.version!r} is not like '1.0'")
        if self.frequency not in FREQUENCIES:
            raise FlowInvalid(
                f"flow {self.id}: frequency {self.frequency!r} is not one of "
                f"{', '.join(FREQUENCIES)}"
            )
        ids: set[str] = set()
        columns: set[str] = set()
        for dimension in self.dimensions:
            where = f"flow {self.id}, dimension {dimension.id!r}"
            if not ARTEFACT_ID.fullmatch(dimension.id):
                raise FlowInvalid(f"{where}: not an SDMX id")
            if dimension.id in RESERVED_IDS:
                raise FlowInvalid(f"{where}: the id is reserved for a component every flow has")
            if dimension.column in RESERVED_COLUMNS:
                raise FlowInvalid(f"{where}: column {dimension.column!r} is reserved")
            if dimension.id in ids or dimension.column in columns:
                raise FlowInvalid(f"{where}: the id or column {dimension.column!r} is repeated")
            ids.add(dimension.id)
            columns.add(dimension.column)

    @property
    def urn_id(self) -> str:
        """The ``AGENCY:ID(VERSION)`` form, the DATAFLOW column of SDMX-CSV."""
        return f"{self.agency}:{self.id}({self.version})"
