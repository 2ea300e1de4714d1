"""Agreement notices the hub sent this connector: which agreement versions are superseded.

The hub sends a signed notice (:mod:`schemas.agreement_notices`) on the agency's receipts
topic whenever a newer version of one of its agreements is activated; from then on
batches naming an older version are refused (``agreement.version_superseded``). The
receipt reader verifies each notice with the hub's key and keeps those of the
connector's agreement here, in the state database, once each; ``connector status`` and
``connector run`` then say which ``agreement_version`` to set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connectors.sdk.state import StateDB
from schemas.agreement_notices import Supersession


@dataclass(frozen=True)
class Superseded:
    """The config's agreement version and the newest version the hub's notices name."""

    agreement_id: str
    version: int
    current_version: int
    activated_at: datetime

    @property
    def message(self) -> str:
        return (
            f"agreement {self.agreement_id} version {self.version} is superseded by version "
            f"{self.current_version}: set agreement_version: {self.current_version}"
        )


def record_notice(state: StateDB, notice: Supersession, *, at: datetime) -> bool:
    """Keep a verified notice (inside the caller's transaction); False if already held."""
    with state.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO agreement_notices (agreement_id, superseded_version, current_version, "
            "agency, activated_at, received_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (
                notice.agreement_id,
                notice.superseded_version,
                notice.current_version,
                notice.agency,
                notice.activated_at.isoformat(),
                at.isoformat(),
            ),
        )
        return cur.rowcount == 1


def superseded(state: StateDB, agreement_id: str | None, version: int) -> Superseded | None:
    """The newest version the notices name for ``agreement_id`` when it is newer than
    ``version`` (the config's), else None."""
    if agreement_id is None:
        return None
    row = state.connection.execute(
        "SELECT current_version, activated_at FROM agreement_notices WHERE agreement_id = ? "
        "ORDER BY current_version DESC LIMIT 1",
        (agreement_id,),
    ).fetchone()
    if row is None or int(row[0]) <= version:
        return None
    return Superseded(agreement_id, version, int(row[0]), datetime.fromisoformat(str(row[1])))
