import csv
import sqlite3
import threading
from datetime import date
from pathlib import Path

import httpx
import pytest

from synth import nation
from synth.agencies import files, sql
from synth.config import AgencyNoise, NoiseConfig, SynthConfig
from synth.errors import SynthConfigError
from synth.jobboard_api import serve
from synth.simulation import simulate

SMALL = SynthConfig(persons=2000, months=6, seed=11)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in {".csv", ".json"}
    }


def _dumps(folder: Path) -> dict[str, list[str]]:
    out = {}
    for agency in sql.TABLES:
        with sqlite3.connect(folder / "sources" / agency / f"{agency}.db") as conn:
            out[agency] = list(conn.iterdump())
    return out


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    nation.make(SMALL, nation.Targets(a))
    nation.make(SMALL, nation.Targets(b))
    return a, b


def test_same_seed_gives_identical_files_and_databases(twins):
    a, b = twins
    files_a = _files(a)
    assert any(k.startswith("sources/nso/lfs/") for k in files_a)
    assert any(k.startswith("sources/tvet/exports/") for k in files_a)
    assert files_a == _files(b)
    assert _dumps(a) == _dumps(b)
    for agency in sql.TABLES:  # a fresh make even writes the same SQLite bytes
        db = Path("sources") / agency / f"{agency}.db"
        assert (a / db).read_bytes() == (b / db).read_bytes()


def test_other_seed_gives_another_nation(twins, tmp_path):
    nation.make(SMALL.model_copy(update={"seed": 12}), nation.Targets(tmp_path))
    assert _dumps(tmp_path)["nis"] != _dumps(twins[0])["nis"]


def test_extend_equals_making_one_more_month_and_updates_rows(tmp_path):
    grown, direct = tmp_path / "grown", tmp_path / "direct"
    nation.make(SMALL, nation.Targets(grown))
    with sqlite3.connect(grown / "sources/dol/dol.db") as conn:
        before = dict(conn.execute("SELECT case_no, updated_at FROM complaints"))
    nation.extend(grown)
    nation.make(SMALL.model_copy(update={"months": 7}), nation.Targets(direct))
    # Upserts change SQLite's physical row order, so compare rows ordered by key.
    for agency in sql.TABLES:
        grown_rows = sql.dump(sql.sqlite_url(grown / "sources", agency), agency)
        assert grown_rows == sql.dump(sql.sqlite_url(direct / "sources", agency), agency)
    assert nation.read_manifest(grown)["months_generated"] == 7
    with sqlite3.connect(grown / "sources/dol/dol.db") as conn:
        after = dict(conn.execute("SELECT case_no, updated_at FROM complaints"))
    updated = [k for k in before if after[k] != before[k]]
    assert updated, "extend changed no existing case"
    assert all(after[k] > before[k] and after[k] >= "2024-07-01" for k in updated)
    assert set(after) > set(before)
    assert (grown / "sources/tvet/exports/2024-07/enrolments.csv").is_file()


def test_late_corrections_appear_in_a_later_export(tmp_path):
    dirty = AgencyNoise(typo=0.5, missing_national_id=0.5, late_correction=1.0)
    cfg = SMALL.model_copy(update={"noise": NoiseConfig(tvet=dirty)})
    nation.make(cfg, nation.Targets(tmp_path))
    a = tmp_path
    seen: dict[str, str] = {}
    corrected = 0
    for month in sorted((a / "sources/tvet/exports").iterdir()):
        with (month / "trainees.csv").open() as f:
            for row in csv.DictReader(f):
                if row["trainee_id"] in seen:
                    corrected += 1
                    assert row["updated_at"] > seen[row["trainee_id"]]
                seen[row["trainee_id"]] = row["updated_at"]
    assert corrected > 0


def test_noise_rates_match_the_configuration(tmp_path):
    rates = AgencyNoise(
        name_variant=0.10,
        typo=0.10,
        nickname=0.0,
        dob_swap=0.2,
        missing_national_id=0.2,
        duplicate=0.05,
        late_correction=0.0,
    )
    cfg = SynthConfig(persons=4000, months=1, seed=5, noise=NoiseConfig(nis=rates))
    nation.make(cfg, nation.Targets(tmp_path))
    with (tmp_path / "truth/persons.csv").open() as f:
        truth = {r["person_id"]: r for r in csv.DictReader(f)}
    with (tmp_path / "truth/person_links.csv").open() as f:
        owner = {
            r["record_id"]: r["person_id"]
            for r in csv.DictReader(f)
            if r["table"] == "insured_persons"
        }
    with sqlite3.connect(tmp_path / "sources/nis/nis.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = list(conn.execute("SELECT * FROM insured_persons"))
    n = len(rows)
    assert n > 2000
    missing = sum(r["national_id"] is None for r in rows) / n
    true_of = {r["nis_number"]: truth[owner[r["nis_number"]]] for r in rows}
    given_differs = sum(r["given_name"] != true_of[r["nis_number"]]["given_name"] for r in rows) / n
    family_differs = (
        sum(r["family_name"] != true_of[r["nis_number"]]["family_name"] for r in rows) / n
    )
    eligible = [
        r
        for r in rows
        if (d := date.fromisoformat(truth[owner[r["nis_number"]]]["date_of_birth"])).day <= 12
        and d.day != d.month
    ]
    swapped = sum(
        r["date_of_birth"] != truth[owner[r["nis_number"]]]["date_of_birth"] for r in eligible
    ) / len(eligible)
    persons = len({owner[r["nis_number"]] for r in rows})
    duplicates = (n - persons) / persons
    assert abs(missing - 0.2) < 0.03
    # A typo hits the given or the family name with equal chance; variants only family names.
    assert abs(given_differs - 0.10 / 2) < 0.02
    assert abs(family_differs - (1 - (1 - 0.10) * (1 - 0.10 / 2))) < 0.03
    assert abs(swapped - 0.2) < 0.06
    assert abs(duplicates - 0.05) < 0.02


def test_jobboard_api_serves_every_page_to_concurrent_clients(twins):
    a, _ = twins
    db = a / "sources/jobboard/jobboard.db"
    with sqlite3.connect(db) as conn:
        expected = dict(conn.execute("SELECT jobseeker_id, updated_at FROM jobseekers"))
    since = sorted(expected.values())[len(expected) // 2]
    server = serve(db, "127.0.0.1", 0)
    server.start_background()
    results: dict[tuple[int, bool], list[str]] = {}

    def crawl(i: int, filtered: bool) -> None:
        ids: list[str] = []
        params: dict[str, str | int] = {"page_size": 7}
        if filtered:
            params["updated_since"] = since
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while True:
                body = client.get("/api/v1/jobseekers", params=params).raise_for_status().json()
                ids += [item["jobseeker_id"] for item in body["items"]]
                if body["next_cursor"] is None:
                    break
                params["cursor"] = body["next_cursor"]
        results[(i, filtered)] = ids

    try:
        threads = [threading.Thread(target=crawl, args=(i, i % 2 == 1)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/api/v1/nothing").status_code == 404
            assert client.get("/api/v1/vacancies", params={"page_size": 0}).status_code == 400
    finally:
        server.stop()
    later = sorted(k for k, v in expected.items() if v > since)
    assert len(results) == 8
    for (_, filtered), ids in results.items():
        assert len(ids) == len(set(ids))
        assert sorted(ids) == (later if filtered else sorted(expected))


def test_nis_and_dol_write_to_postgresql(postgres_url, tmp_path, twins):
    import uuid

    prefix = f"t{uuid.uuid4().hex[:8]}_"
    nation.make(SMALL, nation.Targets(tmp_path, postgres_url, prefix))
    a, _ = twins
    for agency in ("nis", "dol"):
        pg = sql.dump(postgres_url, agency, schema=f"{prefix}{agency}")
        lite = sql.dump(sql.sqlite_url(a / "sources", agency), agency)
        assert [(t, r[0]) for t, r in pg] == [(t, r[0]) for t, r in lite]
        assert len(pg) > 0
    with pytest.raises(SynthConfigError, match="database-url"):
        nation.extend(tmp_path)
    nation.extend(tmp_path, database_url=postgres_url)
    claims = sql.dump(postgres_url, "nis", schema=f"{prefix}nis")
    assert len(claims) > len(sql.dump(sql.sqlite_url(a / "sources", "nis"), "nis"))


def test_lfs_is_a_rotation_panel_of_four_visits(twins):
    a, _ = twins
    quarters = []
    for path in sorted((a / "sources/nso/lfs").glob("lfs_*.csv")):
        with path.open() as f:
            rows = list(csv.DictReader(f))
        quarters.append({r["panel_household_no"]: int(r["visit"]) for r in rows})
    first, second = quarters[:2]
    assert set(first.values()) == {1, 2, 3, 4}
    back = {h: v for h, v in second.items() if v > 1}
    assert all(first[h] == v - 1 for h, v in back.items())
    assert all(v == 1 for h, v in second.items() if h not in first)
    assert all(h not in second for h, v in first.items() if v == 4)
    assert 0.6 < len(back) / len(second) < 0.9  # three quarters carry over
    # Over two years each entry into the panel brings four consecutive visits at most.
    made = simulate(SMALL, 1)
    seen: dict[tuple[int, int], list[int]] = {}
    for q in range(8):
        for h, entered in zip(*(x.tolist() for x in files.lfs_panel(made, q)), strict=True):
            seen.setdefault((h, entered), []).append(q)
    assert all(qs == list(range(max(e, 0), min(e + 4, 8))) for (_, e), qs in seen.items())
