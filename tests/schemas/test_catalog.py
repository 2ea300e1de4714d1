"""Schemas are data and are tested as data."""

import io
import json
import shutil
from importlib import resources
from pathlib import Path

import fastavro
import pytest

from lmis_hub.tokens import ARRAY_TOKEN_KINDS, RETIRED_TOKEN_KINDS, token_field
from schemas.catalog import TOKEN_KINDS, SchemaCatalog
from schemas.errors import InvalidSchema, UnknownDataset, UnknownSchema
from schemas.samples import sample_record

REQUIRED = {
    "nso": {"lfs_person", "business_register"},
    "nis": {"insured_person", "employer", "contribution", "benefit_claim"},
    "tvet": {"trainee", "enrolment", "certification"},
    "dol": {"complaint", "dispute", "inspection", "osh_accident"},
    "jobboard": {"vacancy", "jobseeker", "placement"},
}
# Names a raw personal identifier would go by; none may be a field.
RAW_IDENTIFIERS = {
    "national_id", "nis_number", "name", "full_name", "given_name", "family_name",
    "first_name", "last_name", "surname", "dob", "date_of_birth", "birth_date",
    "person_ref", "trainee_id", "jobseeker_id", "phone", "email", "address",
}  # fmt: skip
TOKEN_TYPE = {"type": "fixed", "name": "Token", "namespace": "lmis.types", "size": 32}


def test_every_required_dataset_exists(catalog):
    present = {tuple(key.split("/")) for key in catalog.datasets()}
    for agency, datasets in REQUIRED.items():
        for dataset in datasets:
            assert (agency, dataset) in present


def test_at_least_one_dataset_has_evolved(catalog):
    assert any(len(catalog.versions(*k.split("/"))) > 1 for k in catalog.datasets())


def test_every_field_has_a_doc_and_no_raw_identifier(catalog):
    for sv in catalog:
        assert sv.raw["doc"]
        for f in sv.fields:
            assert f.get("doc"), f"{sv.key} v{sv.version}: {f['name']} has no doc"
            assert f["name"] not in RAW_IDENTIFIERS, f"{sv.key}: raw identifier {f['name']}"


def test_token_fields_follow_the_shared_contract(catalog):
    for sv in catalog:
        defined = False
        for f in sv.fields:
            if "token" not in f:
                assert not f["name"].endswith("_token"), f"{sv.key}: {f['name']} lacks token"
                continue
            assert f["token"] in TOKEN_KINDS
            assert f["name"] == f"{f['token']}_token"
            branches = f["type"] if isinstance(f["type"], list) else [f["type"]]
            token = [b for b in branches if b != "null"]
            assert len(token) == 1
            if isinstance(f["type"], list):
                assert f["type"][0] == "null" and f["default"] is None
            if f["token"] in ARRAY_TOKEN_KINDS:  # an array of tokens, e.g. ID variants
                assert token[0]["type"] == "array", f"{sv.key}: {f['name']} is an array"
                token = [token[0]["items"]]
            if not defined:
                assert token[0] == TOKEN_TYPE, f"{sv.key}: first token field defines Token"
                defined = True
            else:
                assert token[0] == "lmis.types.Token", f"{sv.key}: later uses refer by name"


def test_no_current_version_carries_a_token_of_a_small_value_space(catalog):
    """Retired kinds (birth year, month, day, sex, region) stay only in the versions
    published before their retirement; every dataset's reader version is free of them."""
    retired = {token_field(kind) for kind in RETIRED_TOKEN_KINDS}
    carried = {
        key: sorted(retired & set(catalog.current(*key.split("/")).token_fields()))
        for key in catalog.datasets()
    }
    assert {key: fields for key, fields in carried.items() if fields} == {}
    older = {sv.key for sv in catalog if retired & set(sv.token_fields())}
    assert older == {
        "nis/insured_person", "nso/lfs_person", "tvet/trainee", "jobboard/jobseeker",
        "dol/complaint", "dol/osh_accident",
    }  # fmt: skip
    for key in older:
        current = catalog.current(*key.split("/"))
        assert "national_id_variants_token" in current.token_fields()
        assert "name_pair_token" in current.token_fields()


def test_event_date_is_a_date_and_record_id_a_string(catalog):
    for sv in catalog:
        fields = {f["name"]: f for f in sv.fields}
        assert fields[sv.event_date_field]["type"] == {"type": "int", "logicalType": "date"}
        assert fields[sv.record_id_field]["type"] == "string"


def test_money_is_long_cents(catalog):
    for sv in catalog:
        for f in sv.fields:
            if f["name"].endswith("_cents"):
                assert f["unit"] == "TTD cents"
                assert f["type"] in ("long", ["null", "long"])


def test_every_codelist_reference_exists(catalog):
    from schemas.codelists import CodeLists

    lists = CodeLists.packaged()
    for sv in catalog:
        for f in sv.fields:
            if "codelist" in f:
                assert f["codelist"] in lists, f"{sv.key}: {f['name']}"


def test_esco_attribution_sits_next_to_the_isco_list():
    index = resources.files("schemas").joinpath("codelists/index.yaml").read_text()
    assert "ESCO, European Commission" in index


def test_lookups(catalog):
    v1 = catalog.get("jobboard", "vacancy", 1)
    assert catalog.by_fingerprint(v1.fingerprint) is v1
    assert catalog.by_fingerprint(v1.fingerprint_bytes) is v1
    assert catalog.by_fingerprint(v1.fingerprint_hex) is v1
    assert catalog.current("jobboard", "vacancy").version == 3  # v3: ISCO auto-coding marks
    assert v1.topic == "lmis.jobboard.vacancy.v1"
    with pytest.raises(UnknownSchema):
        catalog.by_fingerprint(b"\x00" * 8)
    with pytest.raises(UnknownDataset):
        catalog.versions("nso", "nope")
    with pytest.raises(UnknownDataset):
        catalog.get("nso", "lfs_person", 9)


V3_DEFAULTS = {"remote_work": False, "isco_auto_coded": False, "isco_confidence": None}


def test_old_data_resolves_to_the_current_reader(catalog):
    v1 = catalog.get("jobboard", "vacancy", 1)
    record = sample_record(v1, 4)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, v1.parsed, record)
    resolved = catalog.resolve(out.getvalue(), v1)
    assert resolved == {**record, **V3_DEFAULTS}


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "avro"
    with resources.as_file(resources.files("schemas").joinpath("avro")) as src:
        shutil.copytree(src, root)
    return root


def test_a_field_without_doc_is_refused(tmp_path):
    root = _copy_tree(tmp_path)
    path = root / "dol" / "dispute" / "v1.avsc"
    raw = json.loads(path.read_text())
    del raw["fields"][3]["doc"]
    path.write_text(json.dumps(raw))
    with pytest.raises(InvalidSchema, match=r"dol/dispute/v1.avsc: field 'region' has no doc"):
        SchemaCatalog.load(root)


def test_a_misplaced_schema_is_refused(tmp_path):
    root = _copy_tree(tmp_path)
    shutil.copy(root / "dol" / "dispute" / "v1.avsc", root / "dol" / "dispute" / "v2.avsc")
    with pytest.raises(InvalidSchema, match=r"lmis.version must be 2"):
        SchemaCatalog.load(root)


def test_an_unknown_mode_is_refused(tmp_path):
    root = _copy_tree(tmp_path)
    (root / "catalog.yaml").write_text("default: SOMETIMES\n")
    with pytest.raises(InvalidSchema, match="SOMETIMES"):
        SchemaCatalog.load(root)


NEW_AGENCY = Path(__file__).parents[2] / "examples" / "new-agency" / "schemas"


def test_an_extra_folder_adds_an_agency_the_release_did_not_ship(catalog):
    extended = SchemaCatalog.load(extra_dir=NEW_AGENCY)
    assert extended.datasets() == sorted([*catalog.datasets(), "moe/school_leaver"])
    leaver = extended.current("moe", "school_leaver")
    assert leaver.topic == "lmis.moe.school_leaver.v1"
    assert leaver.token_fields()["national_id_token"] == "national_id"
    assert extended.by_fingerprint(leaver.fingerprint) is leaver
    assert extended.mode("moe", "school_leaver") == catalog.default_mode
    with pytest.raises(UnknownDataset):
        catalog.current("moe", "school_leaver")


def test_an_extra_folder_cannot_redefine_or_misname(tmp_path):
    with pytest.raises(InvalidSchema, match="does not exist"):
        SchemaCatalog.load(extra_dir=tmp_path / "missing")
    again = tmp_path / "again"
    shutil.copytree(Path(str(resources.files("schemas").joinpath("avro"))) / "nis", again / "nis")
    with pytest.raises(InvalidSchema, match="a version is defined once"):
        SchemaCatalog.load(extra_dir=again)
    reserved = tmp_path / "reserved"
    shutil.copytree(NEW_AGENCY / "moe", reserved / "receipts")
    with pytest.raises(InvalidSchema, match="reserved topic name"):
        SchemaCatalog.load(extra_dir=reserved)
    (tmp_path / "modes").mkdir()
    (tmp_path / "modes" / "catalog.yaml").write_text("datasets: {moe/x: SOMETIMES}\n")
    with pytest.raises(InvalidSchema, match="SOMETIMES"):
        SchemaCatalog.load(extra_dir=tmp_path / "modes")
