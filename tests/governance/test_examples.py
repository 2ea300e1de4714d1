"""The example agreements: one per agency, each covering exactly its schemas' fields.

The expected fields are computed from the schema catalog, so a schema that gains a
field without its agreement being amended fails here (and its deliveries would be
quarantined with ``agreement.field_not_covered``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from governance.agreements.document import AgreementDocument, load_yaml
from governance.research.application import parse_application
from schemas.catalog import SchemaCatalog

EXAMPLES = Path(__file__).parents[2] / "governance" / "examples"
AGENCIES = ("nso", "nis", "tvet", "dol", "jobboard")


def schema_fields(catalog: SchemaCatalog, agency: str) -> dict[str, set[str]]:
    """dataset -> every field of every version of its schema."""
    out: dict[str, set[str]] = {}
    for sv in catalog:
        if sv.agency == agency:
            out.setdefault(sv.dataset, set()).update(f["name"] for f in sv.fields)
    return out


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


def test_there_is_one_agreement_per_agency_with_a_schema(catalog: SchemaCatalog) -> None:
    with_schemas = {key.split("/")[0] for key in catalog.datasets()} - {"hub"}
    files = {p.stem for p in (EXAMPLES / "agreements").glob("*.yaml")}
    assert files == with_schemas == set(AGENCIES)


@pytest.mark.parametrize("agency", AGENCIES)
def test_the_agreement_covers_exactly_the_agencys_schemas(
    catalog: SchemaCatalog, agency: str
) -> None:
    doc = load_yaml(EXAMPLES / "agreements" / f"{agency}.yaml")
    assert doc.id == f"dsa-{agency}-lmis"
    assert (doc.provider, doc.recipient) == (agency, "hub")
    assert {s.agency for s in doc.signatories} == {agency, "hub"}
    covered = {name: set(terms.fields) for name, terms in doc.datasets.items()}
    expected = schema_fields(catalog, agency)
    assert set(covered) == set(expected)
    for dataset, fields in expected.items():
        assert covered[dataset] == fields, (
            dataset,
            {"not covered": sorted(fields - covered[dataset])},
            {"not in any schema": sorted(covered[dataset] - fields)},
        )


def gaps(doc: AgreementDocument, catalog: SchemaCatalog, agency: str) -> dict[str, set[str]]:
    """dataset -> schema fields the agreement does not list."""
    return {
        dataset: fields - set(doc.datasets[dataset].fields) if dataset in doc.datasets else fields
        for dataset, fields in schema_fields(catalog, agency).items()
        if dataset not in doc.datasets or fields - set(doc.datasets[dataset].fields)
    }


def test_a_field_added_to_a_schema_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "avro"
    shutil.copytree(Path(__file__).parents[2] / "schemas" / "avro", root)
    v1 = root / "nis" / "contribution" / "v1.avsc"
    schema = json.loads(v1.read_text(encoding="utf-8"))
    schema["fields"].append(
        {"name": "voluntary", "type": "boolean", "default": False, "doc": "Voluntary payer."}
    )
    v1.write_text(json.dumps(schema), encoding="utf-8")
    doc = load_yaml(EXAMPLES / "agreements" / "nis.yaml")
    assert gaps(doc, SchemaCatalog.load(), "nis") == {}
    assert gaps(doc, SchemaCatalog.load(root), "nis") == {"contribution": {"voluntary"}}


AGREEMENTS = sorted(p for p in EXAMPLES.rglob("*.yaml") if "research" not in p.parts)
APPLICATIONS = sorted((EXAMPLES / "research").glob("*.yaml"))


@pytest.mark.parametrize("path", AGREEMENTS, ids=lambda p: p.name)
def test_every_example_loads(path: Path) -> None:
    assert isinstance(load_yaml(path), AgreementDocument)


@pytest.mark.parametrize("path", APPLICATIONS, ids=lambda p: p.name)
def test_every_example_application_asks_only_what_the_agreements_allow(path: Path) -> None:
    app = parse_application(yaml.safe_load(path.read_text(encoding="utf-8")), where=str(path))
    for dataset, fields in app.datasets.items():
        agency, name = dataset.split(".")
        doc = load_yaml(EXAMPLES / "agreements" / f"{agency}.yaml")
        assert app.purpose in doc.purposes, dataset
        assert set(fields) <= set(doc.datasets[name].fields), dataset
