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
from pyiceberg.catalog import Catalog
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.agreements.services import document_of
from governance.audit.services import AuditLog
from governance.consent.services import ConsentService
from governance.timestamps import Clock
from integration.linkage.bronze_input import AGREEMENT, BronzeInput, token_tables
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


def withdrawn_persons(
    lake: Catalog,
    session: Session,
    links: pa.Table,
    *,
    purpose: str,
    clock: Clock,
    audit: AuditLog,
) -> set[str]:
    """The person keys of everyone whose consent for ``purpose`` is withdrawn now.

    Consent is recorded per hub-keyed token; this module is where tokens meet person
    keys, so consumers of person keys (research extracts) never read tokens. A token
    matches a record carrying it in a consent token column; the record's person key
    (``links``: agency, dataset, record id, person key) names the person, whose every
    record is then covered, whatever agreement delivered it.
    """
    withdrawn = ConsentService(session, clock=clock, audit=audit).withdrawn_since(purpose, _EVER)
    if not withdrawn or links.num_rows == 0:
        return set()
    wanted = _features(pa.array(withdrawn, pa.binary(32)))
    hits: list[pa.Table] = []
    for name, table in token_tables(lake):
        columns = [c for c in CONSENT_TOKENS if c in table.schema().column_names]
        snapshot = table.current_snapshot()
        if not columns or snapshot is None:
            continue
        data = table.scan(
            snapshot_id=snapshot.snapshot_id, selected_fields=("record_id", *columns)
        ).to_arrow()
        hit = np.zeros(data.num_rows, bool)
        for column in columns:
            values, key_ids = token_features(data[column])
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            raw = values.fill_null(0).to_numpy(zero_copy_only=False)
            hit |= valid & np.array(
                [(k, v) in wanted for k, v in zip(key_ids.tolist(), raw.tolist(), strict=True)],
                bool,
            )
        if hit.any():
            agency, dataset = name.removeprefix("bronze.").split("__", 1)
            ids = data["record_id"].filter(pa.array(hit))
            hits.append(
                pa.table(
                    {
                        "agency": pa.array([agency] * len(ids), pa.string()),
                        "dataset": pa.array([dataset] * len(ids), pa.string()),
                        "record_id": ids.cast(pa.string()),
                    }
                )
            )
    if not hits:
        return set()
    keys = ["agency", "dataset", "record_id", "person_key"]
    found = pa.concat_tables(hits).join(
        links.select(keys).cast(pa.schema([(k, pa.string()) for k in keys])),
        keys[:3],
    )
    return set(found["person_key"].drop_null().to_pylist())
