"""Agencies: the contract's codes are registered once; codes are validated."""

from __future__ import annotations

import pytest

from governance.agencies.services import AgencyService, contract_agencies
from governance.errors import AgencyCodeInvalid, AgencyExists, AgencyUnknown


def test_known_agencies_and_additions(agencies: AgencyService, audit) -> None:
    assert {a.code for a in agencies.list()} >= set(contract_agencies())
    assert agencies.ensure_known(actor="again") == []
    agencies.add("moe", "Ministry of Education", actor="lmis")
    assert agencies.get("moe").name == "Ministry of Education"
    assert audit.search(subject="agency:moe")[0].details == {"name": "Ministry of Education"}
    with pytest.raises(AgencyExists):
        agencies.add("moe", actor="lmis")
    with pytest.raises(AgencyUnknown):
        agencies.get("nowhere")
    for bad in ("NIS", "n", "nis-2", "1nis", "receipts", "quarantine", "nis.x"):
        with pytest.raises(AgencyCodeInvalid):
            agencies.add(bad, actor="lmis")
