"""What an indicator release shows people: the CLI's --json output and the API's answers."""

from __future__ import annotations

from typing import Any

from governance.indicators.models import IndicatorRelease


def release_view(row: IndicatorRelease) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "built_at": row.built_at.isoformat(),
        "built_by": row.built_by,
        "published_at": row.published_at.isoformat() if row.published_at else None,
        "published_by": row.published_by,
        "observations": row.observations,
        "indicators": row.indicators,
        "withheld": row.withheld,
        "folder": row.folder,
    }


def lineage_view(row: IndicatorRelease) -> dict[str, Any]:
    flows = (row.manifest or {}).get("indicators", {})
    return release_view(row) | {
        "lake_snapshots": row.snapshots,
        "linkage_run": row.linkage_run,
        "gold_snapshot": row.gold_snapshot,
        "agreements": row.agreements,
        "flows": {i: f["flow"] for i, f in flows.items()},
        "signature": row.signature,
        "signing_key_id": row.signing_key_id,
    }
