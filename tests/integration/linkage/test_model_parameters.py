"""The model's parameters: a level no training step estimated stops the run; a level
no training pair reached keeps Splink's default and says so."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from splink.internals.linker_components.training import LinkerTraining

from connectors.sdk.linkkey import LinkKey
from integration.linkage.errors import ModelNotConverged
from integration.linkage.link import Linkage, link
from tests.integration.linkage.people import two_agencies


@pytest.fixture(scope="module")
def tables() -> Any:
    tables, _ = two_agencies(600, key=LinkKey(os.urandom(32), key_id=5), seed=31)
    return tables


@pytest.fixture(scope="module")
def linked(tables: Any) -> Linkage:
    return link(tables)


def _levels(linkage: Linkage) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["comparison"], p["level"]): p for p in linkage.model.parameters}


def test_a_model_whose_m_no_training_step_estimated_does_not_converge(
    tables: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without expectation maximisation only u is estimated: every m would be Splink's
    # default.
    monkeypatch.setattr(
        LinkerTraining,
        "estimate_parameters_using_expectation_maximisation",
        lambda self, *args, **kwargs: None,
    )
    with pytest.raises(ModelNotConverged) as raised:
        link(tables)
    assert raised.value.code == "linkage.not_converged"
    assert "national_id/exact: no training step estimated its m" in raised.value.message


def test_a_level_no_training_pair_reached_keeps_the_default_and_is_flagged(
    linked: Linkage,
) -> None:
    levels = _levels(linked)
    # The test agencies never swap names: EM sees no pair at that level, so its m is
    # Splink's default for the eight-level name comparison, 0.05 / 7.
    swapped = levels[("names", "given and family swapped")]
    assert swapped["m_trained"] is False
    assert swapped["m"] == pytest.approx(0.05 / 7)
    # The levels most pairs reach are trained, both m and u.
    for key in (("national_id", "exact"), ("names", "full name exact"), ("dob", "exact")):
        assert levels[key]["m_trained"] and levels[key]["u_trained"], key
    # The name-tied date levels' u is fixed before training: it counts as given.
    assert levels[("dob", "year and month")]["u_trained"] is True


def test_a_loaded_model_is_not_checked_again_and_keeps_the_flags(
    tables: Any, linked: Linkage
) -> None:
    model = linked.model
    nodes = linked.features.nodes
    new = np.zeros(nodes, bool)
    new[-5:] = True
    again = link(
        tables,
        trained={"splink": model.splink, "date_part_u": model.date_part_u},
        new=new,
        kept=(np.arange(nodes - 6, dtype=np.int64), np.arange(1, nodes - 5, dtype=np.int64)),
    )
    assert again.model.retrained is False
    before = {
        (p["comparison"], p["level"]): (p["m_trained"], p["u_trained"]) for p in model.parameters
    }
    after = {
        (p["comparison"], p["level"]): (p["m_trained"], p["u_trained"])
        for p in again.model.parameters
    }
    assert after == before
    assert [p["weight"] for p in again.model.parameters] == pytest.approx(
        [p["weight"] for p in model.parameters]
    )
