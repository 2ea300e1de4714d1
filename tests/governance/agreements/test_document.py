"""Agreement documents: validation names the key; canonical bytes are stable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from governance.agreements.diff import diff
from governance.agreements.document import canonical_bytes, load_yaml, parse_document
from governance.errors import AgreementInvalid
from tests.governance.agreements.factories import EXAMPLE, example_data, make_doc


def test_example_loads() -> None:
    doc = load_yaml(EXAMPLE)
    assert doc.provider == "nis" and doc.parties == ("nis", "hub")
    assert "insurable_earnings" in doc.datasets["contributions"].fields


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    doc = make_doc(title="Contribuciones — NIS")
    raw = canonical_bytes(doc)
    text = raw.decode("utf-8")
    assert '"title":"Contribuciones — NIS"' in text  # UTF-8, not \u escapes
    assert text.startswith('{"datasets":{"contributions":{"delivery_lag_days":20,"fields":[')
    assert list(json.loads(raw)) == sorted(json.loads(raw))
    assert (
        raw
        == json.dumps(
            json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )


@given(st.permutations(list(example_data())), st.randoms())
def test_canonical_bytes_ignore_key_order_and_field_order(order, rnd) -> None:
    data = example_data()
    shuffled = {k: data[k] for k in order}
    fields = shuffled["datasets"]["contributions"]["fields"]
    rnd.shuffle(fields)
    assert canonical_bytes(parse_document(shuffled, where="t")) == canonical_bytes(make_doc())


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["datasets"]["contributions"].pop("fields"), "datasets.contributions.fields"),
        (
            lambda d: d["datasets"]["contributions"].update(periodicity="hourly"),
            "datasets.contributions.periodicity",
        ),
        (lambda d: d["legal_basis"].update(kind="whim"), "legal_basis.kind"),
        (lambda d: d.update(retention_days=0), "retention_days"),
        (lambda d: d.update(valid_until="2025-01-01"), "valid_until must be after valid_from"),
        (lambda d: d.update(signatories=d["signatories"][:1]), "no signatory for party ['hub']"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, change, path: str) -> None:
    data = example_data()
    change(data)
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(AgreementInvalid) as info:
        load_yaml(file)
    assert path in info.value.message and str(file) in info.value.message


def test_broken_yaml_is_reported(tmp_path: Path) -> None:
    file = tmp_path / "x.yaml"
    file.write_text("id: [unclosed")
    with pytest.raises(AgreementInvalid, match="not valid YAML"):
        load_yaml(file)


def test_diff_names_each_changed_term() -> None:
    old = make_doc()
    data = old.model_dump(mode="json")
    data["datasets"]["contributions"]["fields"].append("occupation_isco08")
    data["datasets"]["contributions"]["periodicity"] = "quarterly"
    data["valid_until"] = "2029-12-31"
    del data["datasets"]["insured_persons"]
    new = make_doc(**{k: v for k, v in data.items() if k != "version"}, version=2)
    changes = {c.term: c for c in diff(old, new)}
    assert set(changes) == {
        "datasets.contributions.fields",
        "datasets.contributions.periodicity",
        "datasets.insured_persons",
        "valid_until",
    }
    assert changes["datasets.contributions.fields"].describe() == (
        "datasets.contributions.fields: +occupation_isco08"
    )
    assert changes["datasets.insured_persons"].after is None
    assert diff(old, old) == []
