"""Errors of disclosure control: micro-data extracts (k-anonymity), research outputs
(the airlock's rules) and published aggregates (cell suppression)."""

from __future__ import annotations

from lmis_hub.errors import HubError


class DisclosureError(HubError):
    """Disclosure control refused the request; fix what the message names and try again."""

    code = "disclosure.error"
    http_status = 422


class KTooSmall(DisclosureError):
    """The plan asks for k below 5, the smallest k any extract may have; ask for k of 5
    or more."""

    code = "disclosure.k_too_small"


class PlanInvalid(DisclosureError):
    """The disclosure plan does not fit the extract (a column it names is missing, or a
    generalisation does not fit the column's type); fix the plan at the column the
    message names."""

    code = "disclosure.plan_invalid"


class OutputInvalid(DisclosureError):
    """The result table submitted for release cannot be read as its layout says (empty
    file, missing column, a count that is not a whole number); correct the file at the
    line and column the message names and submit it again."""

    code = "disclosure.output_invalid"


class OutputRulesInvalid(DisclosureError):
    """The airlock's rule parameters are out of range; use a threshold of at least 2,
    an n of at least 1, and k and p between 0 and 1."""

    code = "disclosure.output_rules_invalid"


class CellTableInvalid(DisclosureError):
    """The table of cells is not the full cube with margins that cell suppression
    protects; fix the column or the cell the message names (codes, margins, counts) and
    protect the table again."""

    code = "disclosure.cell_table_invalid"
    http_status = 422


class CellRuleInvalid(DisclosureError):
    """A cell-suppression rule has a value outside its range; correct the field the
    message names."""

    code = "disclosure.cell_rule_invalid"
    http_status = 422


class CellProtectionFailed(DisclosureError):
    """Cell suppression could not make every suppressed cell safe, or the audit's linear
    program failed; publish nothing from the table the message names and report it."""

    code = "disclosure.cell_protection_failed"
    http_status = 500
