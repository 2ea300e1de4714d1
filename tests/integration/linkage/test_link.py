"""The library call on tokenised tables made by the connectors' own tokeniser."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from connectors.sdk.linkkey import LinkKey
from integration.linkage.errors import ModelNotConverged, NoLinkageInput
from integration.linkage.features import Source
from integration.linkage.link import link
from integration.linkage.quality import measure
from tests.integration.linkage.people import people, recorded, two_agencies


@pytest.fixture(scope="module")
def key() -> LinkKey:
    return LinkKey(os.urandom(32), key_id=3)


@pytest.fixture(scope="module")
def linked(key: LinkKey):
    tables, truth = two_agencies(1500, key=key)
    return link(tables), truth


def test_links_the_same_people_across_agencies_with_noise(linked) -> None:
    linkage, truth = linked
    quality = measure(linkage.labels, truth)
    assert quality.true_pairs > 500
    assert quality.precision >= 0.98, quality.as_dict()
    assert quality.recall >= 0.95, quality.as_dict()


def test_every_record_of_a_person_source_is_linkable_and_labelled(linked) -> None:
    linkage, truth = linked
    assert (linkage.labels >= 0).all()
    summary = linkage.summary()
    assert summary["records"] == len(truth)
    assert summary["by_source"]["nis/insured_person"]["person_records"] == 1500
    # A label names the smallest node of its component.
    assert all(linkage.labels[label] == label for label in np.unique(linkage.labels))


def test_trained_model_agreement_outweighs_disagreement(linked) -> None:
    linkage, _ = linked
    weights = {(p["comparison"], p["level"]): p["weight"] for p in linkage.model.parameters}
    assert weights[("national_id", "exact")] > 5 > weights[("national_id", "different")]
    assert weights[("dob", "exact")] > weights[("dob", "different")]
    assert weights[("names", "full name exact")] > weights[("names", "different")]


def test_two_key_generations_are_never_linked(key: LinkKey) -> None:
    """The same people tokenised under two generations stay apart: no pair crosses."""
    other = LinkKey(os.urandom(32), key_id=4)
    population = people(400, seed=5)
    a, _ = recorded(population, agency="nis", dataset="insured_person", key=key, seed=1)
    b, _ = recorded(population, agency="jobboard", dataset="jobseeker", key=other, seed=2)
    c, _ = recorded(population[:200], agency="tvet", dataset="trainee", key=key, seed=3)
    linkage = link(
        {
            Source("nis", "insured_person"): a,
            Source("jobboard", "jobseeker"): b,
            Source("tvet", "trainee"): c,
        }
    )
    generation = linkage.features.key_ids
    for label in np.unique(linkage.labels):
        assert len(set(generation[linkage.labels == label].tolist())) == 1
    # Within a generation the people do link.
    quality = measure(
        linkage.labels[:400].tolist() + linkage.labels[800:].tolist(),
        list(range(400)) + list(range(200)),
    )
    assert quality.recall > 0.9


def test_reference_records_join_the_person_of_their_strong_token(key: LinkKey) -> None:
    """Contributions carry only the NIS number: each joins its insured person."""
    tables, truth = two_agencies(600, key=key, seed=11)
    insured = tables[Source("nis", "insured_person")]
    picks = np.random.default_rng(3).integers(0, 600, 900)
    tables[Source("nis", "contribution")] = pa.table(
        {
            "record_id": pa.array([f"{i:032x}" for i in range(900)]),
            "nis_number_token": insured["nis_number_token"].take(pa.array(picks)),
        }
    )
    linkage = link(tables)
    counts = linkage.summary()["by_source"]["nis/contribution"]
    assert counts == {
        "records": 900,
        "person_records": 0,
        "reference_records": 900,
        "unlinkable_records": 0,
    }
    labels = linkage.labels
    contribution_labels = labels[len(truth) :]
    assert (contribution_labels == labels[picks]).all()
    quality = measure(labels, truth + picks.tolist())
    assert quality.precision >= 0.98


def test_a_dataset_of_references_alone_is_no_linkage_input(key: LinkKey) -> None:
    table = pa.table(
        {
            "record_id": pa.array(["0" * 32]),
            "nis_number_token": pa.array([b"\x00\x03" + os.urandom(30)], pa.binary(32)),
        }
    )
    with pytest.raises(NoLinkageInput) as raised:
        link({Source("nis", "contribution"): table})
    assert raised.value.code == "linkage.no_input"
    assert "nis/contribution" in raised.value.message


def test_a_population_without_any_national_id_does_not_converge(key: LinkKey) -> None:
    population = people(50, seed=2)
    a, _ = recorded(
        population, agency="nis", dataset="insured_person", key=key, seed=1, missing_id=1.0
    )
    with pytest.raises(ModelNotConverged) as raised:
        link({Source("nis", "insured_person"): a})
    assert raised.value.code == "linkage.not_converged"
