"""The codelists the published indicators use, each mapping local codes to SDMX codes.

The indicator tables hold the project's own codes (sex ``"1"``, region ``"TT-POS"``,
ISIC section ``"C"``, ``"_T"`` for a total); the published messages hold SDMX codes.
A :class:`CodeMap` is one codelist together with that mapping; a
:class:`CodelistRegistry` holds the code maps by codelist id.

Where ILOSTAT has a code, the published code is ILOSTAT's id. The ids were checked
against the ILO Department of Statistics' microdata processing templates, whose code
tables list ``ilostat_code`` beside the level and label (repository
``dbescond/iloMicro``, ``inst/doc/stata/X Classif1 for ilo_job1_eco_isic4.do``,
``… ilo_job1_ocu_isco08.do``, ``… ilo_age_10yrbands.do``, ``X Labels for sex.do``;
2017): ``ECO_ISIC4_A`` … ``ECO_ISIC4_U`` and ``ECO_ISIC4_TOTAL``, ``OCU_ISCO08_0`` …
``OCU_ISCO08_9`` and ``OCU_ISCO08_TOTAL``, ``AGE_10YRBANDS_Y15-24`` …
``AGE_10YRBANDS_YGE65`` and ``AGE_10YRBANDS_TOTAL``, ``SEX_M``, ``SEX_F``, ``SEX_T``.
``AGE_YTHADULT_Y15-64`` is the code ILOSTAT's SDMX API answers to for ages 15-64
(queries such as ``DF_EMP_DWAP_SEX_AGE_RT`` with key ``.A..SEX_T.AGE_YTHADULT_Y15-64``).
``SEX_O`` is ILOSTAT's fourth sex code ("other"); ILOSTAT has no code for "not stated",
so the project's ``9`` (not stated) is published as ``SEX_O`` under the project's label
"Not stated".

The cross-domain codelists (FREQ, OBS_STATUS, CONF_STATUS, UNIT_MEASURE, UNIT_MULT) use
the SDMX codes (``SDMX:CL_OBS_STATUS(2.0)``, ``SDMX:CL_CONF_STATUS(1.0)``,
``SDMX:CL_FREQ``, ``SDMX:CL_UNIT_MULT``) but are published under the project's agency,
since they hold only the codes the project uses. Regions have no ILOSTAT equivalent:
their codes are the project's (``schemas/codelists/regions.csv``) and ``_T``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from integration.indicators.sdmx.errors import CodelistInvalid, CodelistUnknown
from integration.indicators.sdmx.model import Code, Codelist
from schemas.codelists import CodeLists

#: The local code of a total in every indicator table.
TOTAL = "_T"


class Standard(StrEnum):
    """Ids of the codelists :meth:`CodelistRegistry.standard` holds."""

    SEX = "CL_SEX"
    AGE = "CL_AGE"
    REGION = "CL_REGION"
    ISIC4_SECTION = "CL_ISIC4_SECTION"
    ISCO08_MAJOR = "CL_ISCO08_MAJOR"
    AREA = "CL_AREA"
    FREQ = "CL_FREQ"
    OBS_STATUS = "CL_OBS_STATUS"
    CONF_STATUS = "CL_CONF_STATUS"
    UNIT_MEASURE = "CL_UNIT_MEASURE"
    UNIT_MULT = "CL_UNIT_MULT"


# Local sex codes (schemas/codelists/sex.csv) → ILOSTAT codes.
_SEX = {"1": "SEX_M", "2": "SEX_F", "9": "SEX_O", TOTAL: "SEX_T"}

# Local age groups → (ILOSTAT code, name).
_AGE = {
    "Y15-24": ("AGE_10YRBANDS_Y15-24", "15 to 24 years"),
    "Y25-34": ("AGE_10YRBANDS_Y25-34", "25 to 34 years"),
    "Y35-44": ("AGE_10YRBANDS_Y35-44", "35 to 44 years"),
    "Y45-54": ("AGE_10YRBANDS_Y45-54", "45 to 54 years"),
    "Y55-64": ("AGE_10YRBANDS_Y55-64", "55 to 64 years"),
    "YGE65": ("AGE_10YRBANDS_YGE65", "65 years and over"),
    "Y15-64": ("AGE_YTHADULT_Y15-64", "15 to 64 years"),
    TOTAL: ("AGE_10YRBANDS_TOTAL", "Total"),
}

_FREQ = (("A", "Annual"), ("Q", "Quarterly"), ("M", "Monthly"))

# SDMX:CL_OBS_STATUS(2.0).
_OBS_STATUS = (
    ("A", "Normal value"),
    ("B", "Time series break"),
    ("D", "Definition differs"),
    ("E", "Estimated value"),
    ("F", "Forecast value"),
    ("G", "Experimental value"),
    ("H", "Missing value; holiday or weekend"),
    ("I", "Imputed value (CCSA definition)"),
    ("J", "Derogation"),
    ("L", "Missing value; data exist but were not collected"),
    ("M", "Missing value; data cannot exist"),
    ("N", "Not significant"),
    ("O", "Missing value"),
    ("P", "Provisional value"),
    ("Q", "Missing value; suppressed"),
    ("S", "Strike and other special events"),
    ("U", "Low reliability"),
)

# SDMX:CL_CONF_STATUS(1.0).
_CONF_STATUS = (
    ("F", "Free"),
    ("N", "Not for publication, restricted for internal use only"),
    ("C", "Confidential statistical information"),
    ("D", "Secondary confidentiality set by the sender, not for publication"),
    ("S", "Secondary confidentiality set and managed by the receiver, not for publication"),
)

_UNIT_MEASURE = (
    ("PT", "Percent"),
    ("PS", "Persons"),
    ("XDC", "Domestic currency"),
    ("DAYS", "Days"),
    ("PER_1000", "Per 1,000"),
)

# SDMX:CL_UNIT_MULT: the power of ten the values are multiplied by.
_UNIT_MULT = (("0", "Units"), ("3", "Thousands"), ("6", "Millions"), ("9", "Billions"))


@dataclass(frozen=True)
class CodeMap:
    """A codelist and the local code each of its SDMX codes is published for.

    ``local_codes`` pairs a local code with an SDMX code id of ``codelist``; the pairing
    is one-to-one. Codes of the codelist that no local code maps to are published in
    the structure all the same (they are part of the classification).
    """

    codelist: Codelist
    local_codes: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        locals_seen: set[str] = set()
        sdmx_seen: set[str] = set()
        for local, sdmx in self.local_codes:
            if sdmx not in self.codelist:
                raise CodelistInvalid(
                    f"codelist {self.codelist.id}: local code {local!r} maps to {sdmx!r}, "
                    "which the codelist lacks"
                )
            if local in locals_seen or sdmx in sdmx_seen:
                raise CodelistInvalid(
                    f"codelist {self.codelist.id}: local code {local!r} or code {sdmx!r} "
                    "is mapped twice"
                )
            locals_seen.add(local)
            sdmx_seen.add(sdmx)

    @classmethod
    def identity(cls, codelist: Codelist) -> CodeMap:
        """A code map whose local codes are the SDMX codes themselves."""
        return cls(codelist, tuple((code.id, code.id) for code in codelist.codes))

    @property
    def local(self) -> tuple[str, ...]:
        """The local codes, in mapping order."""
        return tuple(local for local, _ in self.local_codes)

    @property
    def sdmx(self) -> tuple[str, ...]:
        """The SDMX code of each local code, in the same order as :attr:`local`."""
        return tuple(sdmx for _, sdmx in self.local_codes)


class CodelistRegistry(Mapping[str, CodeMap]):
    """The code maps a set of flows is published with, by codelist id."""

    def __init__(self, maps: Iterable[CodeMap] = ()) -> None:
        self._maps: dict[str, CodeMap] = {}
        for code_map in maps:
            self._put(code_map)

    @classmethod
    def standard(
        cls,
        *,
        areas: Mapping[str, str],
        reference: CodeLists | None = None,
        version: str = "1.0",
    ) -> CodelistRegistry:
        """The standard codelists, at ``version``.

        ``areas`` gives the REF_AREA codes and names (``{"TT": "Trinidad and Tobago"}``);
        ``reference`` the project's code lists (default: the packaged ones), from which
        the sex, region, ISIC Rev.4 section and ISCO-08 major group labels are read.
        """
        lists = reference or CodeLists.packaged()
        registry = cls()

        sex_labels = dict(lists["sex"].labels)
        unmapped = sorted(set(sex_labels) - set(_SEX))
        if unmapped:
            raise CodelistInvalid(
                f"codelist {Standard.SEX}: local sex codes {unmapped} have no SDMX code"
            )
        sex_labels[TOTAL] = "Total"
        registry._add_mapped(
            Standard.SEX,
            "Sex",
            version,
            [(local, _SEX[local], sex_labels[local]) for local in _SEX],
        )
        registry._add_mapped(
            Standard.AGE,
            "Age group",
            version,
            [(local, sdmx, name) for local, (sdmx, name) in _AGE.items()],
        )
        regions = [(code, code, label) for code, label in lists["region"].labels.items()]
        registry._add_mapped(
            Standard.REGION, "Region", version, [*regions, (TOTAL, TOTAL, "Total (national)")]
        )
        sections = [
            (code, f"ECO_ISIC4_{code}", label)
            for code, label in lists["isic4"].labels.items()
            if len(code) == 1 and code.isalpha()
        ]
        registry._add_mapped(
            Standard.ISIC4_SECTION,
            "Economic activity (ISIC Rev.4 section)",
            version,
            [*sections, (TOTAL, "ECO_ISIC4_TOTAL", "Total")],
        )
        majors = [
            (code, f"OCU_ISCO08_{code}", label)
            for code, label in lists["isco08"].labels.items()
            if len(code) == 1
        ]
        registry._add_mapped(
            Standard.ISCO08_MAJOR,
            "Occupation (ISCO-08 major group)",
            version,
            [*majors, (TOTAL, "OCU_ISCO08_TOTAL", "Total")],
        )
        for codelist_id, name, codes in (
            (Standard.AREA, "Reference area", tuple(areas.items())),
            (Standard.FREQ, "Frequency", _FREQ),
            (Standard.OBS_STATUS, "Observation status", _OBS_STATUS),
            (Standard.CONF_STATUS, "Confidentiality status", _CONF_STATUS),
            (Standard.UNIT_MEASURE, "Unit of measure", _UNIT_MEASURE),
            (Standard.UNIT_MULT, "Unit multiplier", _UNIT_MULT),
        ):
            registry.add(
                Codelist(
                    id=codelist_id,
                    name=name,
                    version=version,
                    codes=tuple(Code(code_id, label) for code_id, label in codes),
                )
            )
        return registry

    def add(self, codelist: Codelist, *, local_codes: Mapping[str, str] | None = None) -> CodeMap:
        """Hold ``codelist``; ``local_codes`` maps local codes to its SDMX codes (default:
        each SDMX code stands for itself). A codelist of the same id is replaced."""
        if local_codes is None:
            code_map = CodeMap.identity(codelist)
        else:
            code_map = CodeMap(codelist, tuple(local_codes.items()))
        self._put(code_map, replace=True)
        return code_map

    def add_labels(
        self,
        *,
        id: str,
        name: str,
        labels: Mapping[str, str],
        version: str = "1.0",
        total: str | None = "Total",
        agency: str = "LMIS",
    ) -> CodeMap:
        """Hold a project codelist built from codes and labels (a TVET field list, say).

        The local codes are published as they are (they must be SDMX ids); ``total``, if
        given, is the name of an added ``_T`` code.
        """
        codes = [Code(code_id, label) for code_id, label in labels.items()]
        if total is not None and TOTAL not in labels:
            codes.append(Code(TOTAL, total))
        codelist = Codelist(id=id, name=name, version=version, codes=tuple(codes), agency=agency)
        return self.add(codelist)

    def codelist(self, codelist_id: str) -> Codelist:
        """The codelist with this id; :class:`CodelistUnknown` if none is held."""
        return self[codelist_id].codelist

    def __getitem__(self, codelist_id: str) -> CodeMap:
        try:
            return self._maps[codelist_id]
        except KeyError:
            raise CodelistUnknown(
                f"no codelist {codelist_id!r} is registered; known: {', '.join(sorted(self._maps))}"
            ) from None

    def get(self, codelist_id: str, default: CodeMap | None = None) -> CodeMap | None:  # type: ignore[override]
        """The code map of this id, or ``default``."""
        return self._maps.get(codelist_id, default)

    def __contains__(self, codelist_id: object) -> bool:
        return codelist_id in self._maps

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)

    def _add_mapped(
        self, codelist_id: str, name: str, version: str, rows: list[tuple[str, str, str]]
    ) -> None:
        codelist = Codelist(
            id=codelist_id,
            name=name,
            version=version,
            codes=tuple(Code(sdmx, label) for _, sdmx, label in rows),
        )
        self._put(CodeMap(codelist, tuple((local, sdmx) for local, sdmx, _ in rows)))

    def _put(self, code_map: CodeMap, *, replace: bool = False) -> None:
        codelist_id = code_map.codelist.id
        if codelist_id in self._maps and not replace:
            raise CodelistInvalid(f"codelist {codelist_id} is registered twice")
        self._maps[codelist_id] = code_map
