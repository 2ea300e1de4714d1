from schemas.codebook import write_codebook
from schemas.codelists import CodeLists


def test_every_field_of_every_version_is_in_the_codebook(catalog, tmp_path):
    write_codebook(catalog, CodeLists.packaged(), tmp_path)
    for key in catalog.datasets():
        stem = key.replace("/", "__")
        md = (tmp_path / f"{stem}.md").read_text()
        page = (tmp_path / f"{stem}.html").read_text()
        for sv in catalog.versions(*key.split("/")):
            assert f"### v{sv.version} (fingerprint `{sv.fingerprint_hex}`)" in md
            assert f"<code>{sv.fingerprint_hex}</code>" in page
        current = catalog.current(*key.split("/"))
        for f in current.fields:
            assert f"| `{f['name']}` |" in md, f"{key}: {f['name']}"
            assert f"<td><code>{f['name']}</code></td>" in page
            assert f["doc"].split(" (")[0] in md


def test_versions_say_what_changed(catalog, tmp_path):
    write_codebook(catalog, CodeLists.packaged(), tmp_path)
    md = (tmp_path / "jobboard__vacancy.md").read_text()
    assert "Added field `remote_work` (boolean, default False)." in md
    assert "Field `contract_type`: new codes INTERNSHIP." in md


def test_code_lists_with_labels_and_attribution(tmp_path, catalog):
    lists = CodeLists.packaged()
    write_codebook(catalog, lists, tmp_path)
    isco = (tmp_path / "codelist__isco08.md").read_text()
    assert "ESCO, European Commission" in isco
    for code, label in list(lists["isco08"].labels.items())[:50]:
        assert f"| `{code}` | {label} |" in isco
    regions = (tmp_path / "codelist__region.html").read_text()
    assert "Tunapuna–Piarco Regional Corporation" in regions
