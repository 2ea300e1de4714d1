"""What an agreement version shows people in lists: the CLI and the API."""

from __future__ import annotations

import json
from typing import Any

from governance.agreements.models import Agreement
from governance.agreements.services import AgreementService


def summary(row: Agreement) -> dict[str, Any]:
    return {
        "id": row.id,
        "version": row.version,
        "provider": row.provider,
        "title": row.title,
        "state": row.state,
        "valid_from": row.valid_from.isoformat(),
        "valid_until": row.valid_until.isoformat(),
        "digest": row.digest,
    }


def detail(svc: AgreementService, row: Agreement) -> dict[str, Any]:
    """An agreement version whole: terms, signatures (checked), history."""
    return summary(row) | {
        "document": json.loads(row.document),
        "signatures": {
            s.agency: {"key_id": s.key_id, "signed_at": s.signed_at.isoformat()}
            for s in svc.signatures(row.id, row.version)
        },
        "signature_check": svc.verify_signatures(row.id, row.version),
        "history": [
            {
                "from": t.from_state,
                "to": t.to_state,
                "actor": t.actor,
                "at": t.at.isoformat(),
                "reason": t.reason,
            }
            for t in svc.history(row.id, row.version)
        ],
    }
