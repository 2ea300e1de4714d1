"""Consent in the linkage: where an agreement's legal basis is consent, a person who
withdrew consent for linkage is not linked.

The consent registry (``governance/consent``) keys each person by a hub-keyed token
(the bronze ``national_id_token`` or ``nis_number_token`` of that person) and a
purpose; the linkage reads the tokens whose latest event for the purpose ``linkage`` is
a withdrawal. Rows delivered under a consent-based agreement that carry one of those
tokens are left out of the run — they get no person key, and the run's silver tables,
which replace the previous ones, no longer hold their links. Rows of the same person
delivered under a statute are linked as before: the withdrawal covers what was given
by consent.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.agreements.services import document_of
from governance.audit.services import AuditLog
from governance.consent.services import ConsentService
from governance.timestamps import Clock
from integration.linkage.bronze_input import AGREEMENT, BronzeInput
from integration.linkage.features import token_features

PURPOSE = "linkage"
#: The token columns a consent withdrawal is matched on.
CONSENT_TOKENS = ("national_id_token", "nis_number_token")
_EVER = datetime(1970, 1, 1, tzinfo=UTC)


def consent_agreements(session: Session) -> set[tuple[str, int]]:
    """(agreement id, version) of every agreement version whose legal basis is consent."""
    return {
        (row.id, row.version)
        for row in session.scalars(select(Agreement))
        if document_of(row).legal_basis.kind == "consent"
    }


def _features(tokens: pa.Array) -> set[tuple[int, int]]:
    values, key_ids = token_features(tokens)
    return set(
        zip(
            key_ids.tolist(),
            values.fill_null(0).to_numpy(zero_copy_only=False).tolist(),
            strict=True,
        )
    )


def leave_out_withdrawn(
    bronze: BronzeInput, session: Session, *, clock: Clock, audit: AuditLog
) -> dict[str, int]:
    """Drop from ``bronze`` the rows a withdrawal covers; the rows dropped per source."""
    agreements = consent_agreements(session)
    if not agreements:
        return {}
    withdrawn = ConsentService(session, clock=clock, audit=audit).withdrawn_since(PURPOSE, _EVER)
    if not withdrawn:
        return {}
    wanted = _features(pa.array(withdrawn, pa.binary(32)))
    dropped: dict[str, int] = {}
    for source, table in list(bronze.tables.items()):
        if not set(AGREEMENT) <= set(table.column_names):
            continue
        under_consent = np.array(
            [
                (a, v) in agreements
                for a, v in zip(
                    table[AGREEMENT[0]].to_pylist(), table[AGREEMENT[1]].to_pylist(), strict=True
                )
            ],
            bool,
        )
        if not under_consent.any():
            continue
        hit = np.zeros(table.num_rows, bool)
        for column in CONSENT_TOKENS:
            if column not in table.column_names:
                continue
            values, key_ids = token_features(table[column])
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            raw = values.fill_null(0).to_numpy(zero_copy_only=False)
            hit |= valid & np.array(
                [(k, v) in wanted for k, v in zip(key_ids.tolist(), raw.tolist(), strict=True)],
                bool,
            )
        drop = hit & under_consent
        if drop.any():
            bronze.tables[source] = table.filter(pa.array(~drop))
            dropped[str(source)] = int(drop.sum())
    return dropped
