import copy
import json
import shutil
from importlib import resources
from typing import Any

import fastavro
import pytest

from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.compatibility import check_catalog, check_versions, describe, reader_problems
from schemas.fingerprint import fingerprint


def test_every_dataset_is_compatible_under_its_mode(catalog):
    problems = check_catalog(catalog)
    assert not problems, describe(problems)


def _base(catalog):
    return copy.deepcopy(dict(catalog.get("jobboard", "vacancy", 1).raw))


def _field(raw, name):
    return next(f for f in raw["fields"] if f["name"] == name)


def _version(raw, n):
    raw = copy.deepcopy(raw)
    raw["lmis.version"] = n
    return SchemaVersion(
        "jobboard", "vacancy", n, raw, fastavro.parse_schema(raw), fingerprint(raw)
    )


def _rules(old, new, mode="FULL"):
    found = check_versions("jobboard/vacancy", [_version(old, 1), _version(new, 2)], mode)
    return {(i.direction, i.problem.path, i.problem.rule) for i in found}, found


def test_removing_an_enum_symbol_without_default_breaks_backward(catalog):
    old = _base(catalog)
    for f in old["fields"]:
        if f["name"] == "contract_type":
            del f["type"]["default"]
    new = copy.deepcopy(old)
    _field(new, "contract_type")["type"]["symbols"].remove("CASUAL")
    rules, found = _rules(old, new)
    assert rules == {("backward", "contract_type", "enum_symbol")}
    message = str(found[0])
    assert "jobboard/vacancy" in message and "contract_type" in message
    assert "enum_symbol" in message


def test_adding_an_enum_symbol_without_default_breaks_forward(catalog):
    old = _base(catalog)
    del _field(old, "contract_type")["type"]["default"]
    new = copy.deepcopy(old)
    _field(new, "contract_type")["type"]["symbols"].append("SEASONAL")
    rules, _ = _rules(old, new)
    assert rules == {("forward", "contract_type", "enum_symbol")}
    # With an enum default, the old reader maps the new symbol to it.
    old_with_default = _base(catalog)
    new_with_default = copy.deepcopy(old_with_default)
    _field(new_with_default, "contract_type")["type"]["symbols"].append("SEASONAL")
    assert _rules(old_with_default, new_with_default)[0] == set()


def test_a_field_added_without_default_breaks_backward(catalog):
    old = _base(catalog)
    new = copy.deepcopy(old)
    new["fields"].append({"name": "sector", "type": "string", "doc": "x"})
    assert _rules(old, new)[0] == {("backward", "sector", "missing_field")}
    new["fields"][-1]["default"] = ""
    assert _rules(old, new)[0] == set()


def test_a_field_removed_without_default_breaks_forward(catalog):
    old = _base(catalog)
    new = copy.deepcopy(old)
    new["fields"] = [f for f in new["fields"] if f["name"] != "positions"]
    assert _rules(old, new)[0] == {("forward", "positions", "missing_field")}


@pytest.mark.parametrize(
    ("before", "after", "backward_ok", "forward_ok"),
    [
        ("int", "long", True, False),
        ("int", "double", True, False),
        ("long", "float", True, False),
        ("float", "double", True, False),
        ("string", "bytes", True, True),
        ("long", "int", False, True),
        ("int", "string", False, False),
        ("boolean", "int", False, False),
    ],
)
def test_type_promotions(catalog, before, after, backward_ok, forward_ok):
    old = _base(catalog)
    _field(old, "positions").update(type=before)
    new = copy.deepcopy(old)
    _field(new, "positions").update(type=after)
    rules, _ = _rules(old, new)
    assert (("backward", "positions", "type_mismatch") not in rules) == backward_ok
    assert (("forward", "positions", "type_mismatch") not in rules) == forward_ok


def test_union_branch_changes(catalog):
    old = _base(catalog)
    new = copy.deepcopy(old)
    _field(new, "industry")["type"] = "string"  # the null branch is gone
    del _field(new, "industry")["default"]
    rules, _ = _rules(old, new)
    assert ("backward", "industry<null>", "union_branch") in rules
    assert ("forward", "industry", "union_branch") not in rules
    widened = copy.deepcopy(old)
    _field(widened, "industry")["type"] = ["null", "string", "int"]
    assert _rules(old, widened)[0] == {("forward", "industry<int>", "union_branch")}


def test_fixed_size_and_named_type_renames():
    a: dict[str, Any] = {"type": "record", "name": "R", "fields": [
        {"name": "t", "type": {"type": "fixed", "name": "Token", "size": 32}}]}  # fmt: skip
    b = copy.deepcopy(a)
    b["fields"][0]["type"]["size"] = 16
    assert [p.rule for p in reader_problems(b, a)] == ["fixed_size"]
    renamed = copy.deepcopy(a)
    renamed["fields"][0]["type"]["name"] = "Key"
    assert [p.rule for p in reader_problems(renamed, a)] == ["name_mismatch"]
    renamed["fields"][0]["type"]["aliases"] = ["Token"]
    assert reader_problems(renamed, a) == []
    record_renamed = copy.deepcopy(a)
    record_renamed["name"] = "S"
    assert [p.rule for p in reader_problems(record_renamed, a)] == ["name_mismatch"]


def test_modes_choose_directions_and_history(catalog):
    v1 = _base(catalog)
    v2 = copy.deepcopy(v1)
    v2["fields"].append({"name": "a", "type": "int", "doc": "x", "default": 0})
    v3 = copy.deepcopy(v2)
    del v3["fields"][-1]["default"]  # v3 reads v2 (it has a) but not v1
    versions = [_version(v1, 1), _version(v2, 2), _version(v3, 3)]
    assert check_versions("d", versions, "BACKWARD") == []
    transitive = check_versions("d", versions, "BACKWARD_TRANSITIVE")
    assert [(i.version, i.other_version, i.problem.rule) for i in transitive] == [
        (3, 1, "missing_field")
    ]
    assert check_versions("d", versions, "FORWARD_TRANSITIVE") == []
    assert check_versions("d", versions, "NONE") == []
    assert len(check_versions("d", versions, "FULL_TRANSITIVE")) == 1


def test_a_breaking_version_in_the_catalog_is_reported(tmp_path):
    root = tmp_path / "avro"
    with resources.as_file(resources.files("schemas").joinpath("avro")) as src:
        shutil.copytree(src, root)
    raw = json.loads((root / "nis" / "employer" / "v1.avsc").read_text())
    raw["lmis.version"] = 2
    raw["fields"].append({"name": "size_class", "type": "string", "doc": "x"})
    (root / "nis" / "employer" / "v2.avsc").write_text(json.dumps(raw))
    problems = check_catalog(SchemaCatalog.load(root))
    assert [(p.dataset, p.problem.path, p.problem.rule) for p in problems] == [
        ("nis/employer", "size_class", "missing_field")
    ]
    (root / "catalog.yaml").write_text(
        "default: FULL_TRANSITIVE\ndatasets:\n  nis/employer: FORWARD\n"
    )
    assert check_catalog(SchemaCatalog.load(root)) == []
