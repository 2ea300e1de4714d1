"""Every agency connector over one small synthetic nation: the config validates against
its schema, every record seals and opens under it, and no byte sent carries a real
name, national ID or date of birth from the nation's truth."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.sdk.config import ConnectorConfig, load_config
from connectors.sdk.kit import packaged_code_lists
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Pipeline, RunReport
from connectors.sdk.publisher import EnvelopePublisher
from connectors.sdk.state import StateDB
from connectors.sdk.tokenise import RecordIds
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, open_batch
from schemas.record_ids import record_id_problem
from schemas.signing import Signer
from synth import nation as nation_mod
from synth import reference
from synth.config import load_config as load_synth_config
from synth.jobboard_api import JobBoardServer, serve
from tests.connectors.agencies.deployment import agency_config_files, deployment_config

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PERSON_TOKENS = ("national_id_token", "dob_token", "given_name_token", "family_name_token")
CONFIGS = agency_config_files()
IDS = [f"{p.parent.name}/{p.stem}" for p in CONFIGS]

#: Datasets with fewer than three records in the test nation: trade disputes are rare
#: (about five a year at this size, mostly at the few larger employers).
FEWEST = {"dol/dispute": 1}
#: Tokens each dataset must carry in at least 80 % of its records.
TOKENS: dict[str, tuple[str, ...]] = {
    "nis/insured_person": (*PERSON_TOKENS, "nis_number_token"),
    "nis/contribution": ("nis_number_token",),
    "nis/benefit_claim": ("nis_number_token",),
    "tvet/trainee": (*PERSON_TOKENS, "person_ref_token"),
    "tvet/enrolment": ("person_ref_token",),
    "tvet/certification": ("person_ref_token",),
    "dol/complaint": ("given_name_token", "family_name_token", "dob_token"),
    "dol/osh_accident": ("given_name_token", "family_name_token", "dob_token"),
    # the board's national IDs are mostly missing (60 %)
    "jobboard/jobseeker": ("person_ref_token", "given_name_token", "dob_token"),
    "jobboard/placement": ("person_ref_token",),
}


def test_every_schema_dataset_has_a_config() -> None:
    catalog = SchemaCatalog.load()
    wanted = {k for k in catalog.datasets() if not k.startswith("hub/")}
    assert {f"{p.parent.name}/{p.stem}" for p in CONFIGS} == wanted


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_validates_and_fills_its_schema(path: Path) -> None:
    config = load_config(path)
    assert (config.agency, config.dataset) == (path.parent.name, path.stem)
    schema = config.schema_version()
    assert schema.topic == config.topic
    fields = {f["name"]: f for f in schema.raw["fields"]}
    filled = set(config.mapping.fields)
    coding = config.mapping.occupation_coding
    if coding is not None:
        filled |= {coding.field, coding.auto_coded_field, coding.confidence_field} - {None}  # type: ignore[arg-type]
    assert filled <= set(fields), sorted(filled - set(fields))
    assert set(config.validation) <= set(fields)
    tokens = set(schema.token_fields())
    unfilled = {
        name for name, f in fields.items() if name not in filled | tokens and "default" not in f
    }
    assert unfilled == set(), f"required fields not filled: {sorted(unfilled)}"
    # every path follows the one convention: relative, under data/
    paths = [config.state_dir, config.tokenise.link_key_file, config.signing_key_file]
    paths += [config.hub_public_key_file, getattr(config.source, "directory", None)]
    assert all(str(p).startswith("data/") for p in paths if p is not None)


#: Fields still sent as a constant because the synthetic source has no such column.
STILL_CONSTANT = {
    "jobboard/vacancy": {"remote_work"},
    "nis/insured_person": {"insurance_status"},
}


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_only_the_documented_fields_are_constants(path: Path) -> None:
    config = load_config(path)
    constant = {n for n, f in config.mapping.fields.items() if f.column is None and not f.template}
    assert constant == STILL_CONSTANT.get(f"{path.parent.name}/{path.stem}", set())


@dataclass
class World:
    nation: Path
    jobboard_url: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One 12-month nation of 3,000 persons (about 16 complaints and 5 disputes a
    year; fewer persons leave some DoL tables empty) and its job-board API."""
    folder = tmp_path_factory.mktemp("nation")
    cfg = load_synth_config(None, persons=3000, seed=11, months=12)
    nation_mod.make(cfg, nation_mod.Targets(folder, None, "synth_"))
    server: JobBoardServer = serve(folder / "sources" / "jobboard" / "jobboard.db", "127.0.0.1", 0)
    server.start_background()
    try:
        yield World(folder, server.url)
    finally:
        server.stop()


def truth_strings(nation: Path, *, single_names: bool = True) -> set[bytes]:
    """Names (5+ letters, so random token bytes cannot match by chance), IDs and DOBs.

    Without ``single_names`` only full names: business names such as "Achong Motors
    Limited" carry family names, and employer datasets send business names.
    """
    out: set[bytes] = set()
    with (nation / "truth" / "persons.csv").open(encoding="utf-8") as f:
        for p in csv.DictReader(f):
            out.add(p["national_id"].encode())
            dob = p["date_of_birth"]
            out.update({dob.encode(), dob.replace("-", "").encode()})
            for name in (p["given_name"], p["family_name"]) if single_names else ():
                if len(name) >= 5:
                    out.add(name.encode())
            out.add(f"{p['given_name']} {p['family_name']}".encode())
    return out


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        self.messages.extend(messages)


@dataclass
class Run:
    config: ConnectorConfig
    report: RunReport
    records: list[dict[str, Any]]
    sent: bytes
    held: bytes


LINK_KEY = LinkKey(b"k" * 32, key_id=1)


def run_connector(path: Path, world: World, tmp_path: Path) -> Run:
    config = deployment_config(
        path,
        nation=world.nation,
        data_dir=tmp_path,
        bootstrap="127.0.0.1:9",
        jobboard_url=world.jobboard_url,
    )
    catalog = SchemaCatalog.load()
    code_lists = packaged_code_lists()
    state = StateDB.open(config.state_db_path)
    private = Ed25519PrivateKey.generate()
    sender = Recorder()
    schema = catalog.get(config.agency, config.dataset, config.schema_major)
    publisher = EnvelopePublisher(
        schema=schema,
        topic=schema.topic,
        agreement_id=config.agreement_id or "dsa-test",
        agreement_version=config.agreement_version,
        signer=Signer(f"{config.agency}-test", private),
        state=state,
        sender=sender,
        clock=lambda: NOW,
    )
    pipeline = Pipeline.from_config(
        config,
        state=state,
        link_key=LINK_KEY,
        clock=lambda: NOW,
        code_lists=code_lists,  # type: ignore[arg-type]
        regions=frozenset(code_lists["region"]),
    )
    try:
        report = pipeline.run(publisher)
        held = b"".join(b.payload + b.headers for b in Outbox(state).batches())
    finally:
        state.close()
    records = []
    for m in sender.messages:
        opened = open_batch(
            m.value,
            m.headers,
            catalog=catalog,
            public_key_for=lambda kid: private.public_key(),
            now=NOW,
            max_skew=timedelta(seconds=1),
        )
        assert opened.writer.version == config.schema_major
        records.extend(opened.records)
    sent = b"".join(
        m.key + m.value + b"".join(n.encode() + v for n, v in m.headers) for m in sender.messages
    )
    return Run(config, report, records, sent, held)


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_connector_publishes_the_nation_without_raw_identifiers(
    path: Path, world: World, tmp_path: Path
) -> None:
    run = run_connector(path, world, tmp_path)
    report = run.report
    assert report.rows_read >= FEWEST.get(f"{path.parent.name}/{path.stem}", 3), report.rows_read
    assert report.refusals == [], report.refusals[:5]
    assert len(run.records) == report.records_published == report.rows_read
    # record ids (and references to records) leave opaque; an update keeps its row's id
    for name in run.config.mapping.record_id_fields():
        assert all(record_id_problem(r[name]) is None for r in run.records), name
    # every field read from a source column is filled somewhere (the column exists)
    for name, spec in run.config.mapping.fields.items():
        if spec.column is not None:
            assert any(r[name] is not None for r in run.records), name
    for field in TOKENS.get(f"{path.parent.name}/{path.stem}", ()):
        filled = [r[field] for r in run.records if r[field] is not None]
        assert len(filled) >= 0.8 * len(run.records), field
        assert all(len(t) == 32 for t in filled)
    names_a_business = {"employer_name", "enterprise_name"} & set(run.records[0])
    secrets = truth_strings(world.nation, single_names=not names_a_business)
    assert sorted(s for s in secrets if s in run.sent) == []
    assert run.held and not any(s in run.held for s in secrets)


def test_the_scan_finds_identifiers_in_the_sources(world: World) -> None:
    raw = b"".join(f.read_bytes() for f in (world.nation / "sources").rglob("*") if f.is_file())
    assert sum(s in raw for s in truth_strings(world.nation)) > 100


def test_a_second_run_reads_nothing_new(world: World, tmp_path: Path) -> None:
    path = next(p for p in CONFIGS if p.parent.name == "jobboard" and p.stem == "vacancy")
    first = run_connector(path, world, tmp_path)
    again = run_connector(path, world, tmp_path)
    assert first.report.rows_read > 0
    assert again.report.rows_read == 0 and again.records == []


def test_vacancies_keep_board_codes_and_mark_suggested_ones(world: World, tmp_path: Path) -> None:
    path = next(p for p in CONFIGS if p.parent.name == "jobboard" and p.stem == "vacancy")
    run = run_connector(path, world, tmp_path)
    ids = RecordIds(LINK_KEY, agency="jobboard", dataset="vacancy")
    with sqlite3.connect(world.nation / "sources" / "jobboard" / "jobboard.db") as conn:
        board = {
            ids.of(v): (t, c or None)
            for v, t, c in conn.execute("SELECT vacancy_id, title, isco_code FROM vacancies")
        }
    titles = reference.job_titles()
    auto = [r for r in run.records if r["isco_auto_coded"]]
    coded = [r for r in run.records if not r["isco_auto_coded"]]
    assert auto and coded
    for r in coded:
        assert r["occupation"] == board[r["record_id"]][1]
        assert r["isco_confidence"] is None
    right = 0
    for r in auto:
        title, code = board[r["record_id"]]
        assert code is None
        assert 0.0 <= r["isco_confidence"] <= 1.0
        right += title in titles.get(r["occupation"], ())
    # the synth draws titles from ESCO labels of the true unit group; a few labels
    # belong to several groups
    assert right >= 0.9 * len(auto), (right, len(auto))


def test_person_ref_tokens_link_within_the_agency(world: World, tmp_path: Path) -> None:
    by_name = {f"{p.parent.name}/{p.stem}": p for p in CONFIGS}
    trainees = run_connector(by_name["tvet/trainee"], world, tmp_path / "t")
    enrolments = run_connector(by_name["tvet/enrolment"], world, tmp_path / "e")
    seekers = run_connector(by_name["jobboard/jobseeker"], world, tmp_path / "j")
    trainee_refs = {r["person_ref_token"] for r in trainees.records}
    assert {r["person_ref_token"] for r in enrolments.records} <= trainee_refs
    assert trainee_refs.isdisjoint({r["person_ref_token"] for r in seekers.records})
    # the record id of a trainee is the exported row, not the trainee number
    rows = RecordIds(LINK_KEY, agency="tvet", dataset="trainee")
    exported = {
        rows.of(f"{f.parent.name}/{f.name}:{line}")
        for f in (world.nation / "sources" / "tvet" / "exports").glob("*/trainees.csv")
        for line in range(2, 2 + sum(1 for _ in f.open(encoding="utf-8-sig")))
    }
    assert {r["record_id"] for r in trainees.records} <= exported


def test_placements_reference_the_vacancies_record_ids(world: World, tmp_path: Path) -> None:
    by_name = {f"{p.parent.name}/{p.stem}": p for p in CONFIGS}
    vacancies = run_connector(by_name["jobboard/vacancy"], world, tmp_path / "v")
    placements = run_connector(by_name["jobboard/placement"], world, tmp_path / "p")
    assert placements.records
    vacancy_ids = {r["record_id"] for r in vacancies.records}
    assert {r["vacancy_record_id"] for r in placements.records} <= vacancy_ids
