"""What a verification of the audit chain shows people: the CLI and the API."""

from __future__ import annotations

from typing import Any

from governance.audit.chain import Verification


def verification_view(result: Verification, **extra: Any) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "intact_up_to": result.intact_up_to,
        "first_bad_entry": result.bad_seq,
        "reason": result.reason,
        "checkpoints_verified": result.checkpoints_verified,
        "covered_up_to": result.covered_up_to,
        "uncovered_entries": result.uncovered,
        **extra,
    }
