"""`lmis-hub schemas …` run as a user runs it."""

import json
import shutil
from importlib import resources

from schemas.catalog import SchemaCatalog
from tests.hub_api.test_cli import run_cli


def test_list_and_fingerprint_as_json():
    listed = json.loads(run_cli("--json", "schemas", "list").stdout)
    assert {(d["agency"], d["dataset"]) for d in listed} >= {("nso", "lfs_person")}
    vacancy = next(d for d in listed if d["dataset"] == "vacancy")
    assert vacancy["versions"] == [1, 2, 3]
    prints = json.loads(run_cli("--json", "schemas", "fingerprint").stdout)
    catalog = SchemaCatalog.load()
    assert {p["fingerprint"] for p in prints} == {sv.fingerprint_hex for sv in catalog}


def test_show_a_version():
    result = run_cli("--json", "schemas", "show", "jobboard", "vacancy", "--version", "1")
    assert result.returncode == 0
    assert json.loads(result.stdout)["lmis.version"] == 1
    missing = run_cli("--json", "schemas", "show", "jobboard", "nope")
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["error"]["code"] == "schema.unknown_dataset"


def test_check_passes_and_fails_with_the_field_and_rule(tmp_path):
    ok = run_cli("--json", "schemas", "check")
    assert ok.returncode == 0 and json.loads(ok.stdout)["incompatibilities"] == []
    root = tmp_path / "avro"
    with resources.as_file(resources.files("schemas").joinpath("avro")) as src:
        shutil.copytree(src, root)
    raw = json.loads((root / "dol" / "inspection" / "v1.avsc").read_text())
    raw["lmis.version"] = 2
    raw["fields"][4]["type"]["symbols"].remove("ACCIDENT")
    del raw["fields"][4]["type"]["default"]
    (root / "dol" / "inspection" / "v2.avsc").write_text(json.dumps(raw))
    broken = run_cli("--json", "schemas", "check", "--root", str(root))
    assert broken.returncode == 2
    error = json.loads(broken.stdout)["error"]
    assert error["code"] == "schema.incompatible"
    assert "dol/inspection" in error["message"] and "inspection_type" in error["message"]
    assert "enum_symbol" in error["message"]


def test_codebook_command_writes_files(tmp_path):
    result = run_cli("--json", "schemas", "codebook", "--out", str(tmp_path))
    assert result.returncode == 0
    assert json.loads(result.stdout)["files"] == len(list(tmp_path.iterdir()))
    assert (tmp_path / "index.html").exists() and (tmp_path / "nso__lfs_person.md").exists()
