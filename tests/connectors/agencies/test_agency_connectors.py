"""Each agency connector over a small synthetic nation: every record seals, and no byte
sent carries a real name, national ID or date of birth from the nation's truth."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.sdk.config import parse_config
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Pipeline
from connectors.sdk.publisher import EnvelopePublisher
from connectors.sdk.state import StateDB
from schemas.catalog import Catalog
from schemas.codelists import CodeLists
from schemas.envelope import Message, open_batch
from schemas.signing import Signer
from synth import nation as nation_mod
from synth.config import load_config as load_synth_config

AGENCIES = Path(__file__).parents[3] / "connectors" / "agencies"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
PERSON_TOKENS = ("national_id_token", "dob_token", "given_name_token", "family_name_token")


@pytest.fixture(scope="module")
def nations(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """A 12-month nation of the given size, made once per module."""
    made: dict[int, Path] = {}

    def get(persons: int) -> Path:
        if persons not in made:
            folder = tmp_path_factory.mktemp(f"nation{persons}")
            cfg = load_synth_config(None, persons=persons, seed=11, months=12)
            nation_mod.make(cfg, nation_mod.Targets(folder, None, "synth_"))
            made[persons] = folder
        return made[persons]

    return get


def truth_strings(nation: Path) -> set[bytes]:
    """Names (5+ letters, so random token bytes cannot match by chance), IDs and DOBs."""
    out: set[bytes] = set()
    with (nation / "truth" / "persons.csv").open(encoding="utf-8") as f:
        for p in csv.DictReader(f):
            out.add(p["national_id"].encode())
            dob = p["date_of_birth"]
            out.update({dob.encode(), dob.replace("-", "").encode()})
            for name in (p["given_name"], p["family_name"]):
                if len(name) >= 5:
                    out.add(name.encode())
            out.add(f"{p['given_name']} {p['family_name']}".encode())
    return out


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        self.messages.extend(messages)


def agency_config(path: Path, nation: Path, tmp_path: Path) -> Any:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["state_dir"] = str(tmp_path / "state")
    source = data["source"]
    if source["type"] == "sql":
        agency = data["agency"]
        source["url"] = f"sqlite:///{nation / 'sources' / agency / f'{agency}.db'}"
    else:
        source["directory"] = str(nation / "sources" / data["agency"] / "exports")
    return parse_config(data, origin=str(path))


@pytest.mark.parametrize(
    ("config_file", "persons", "tokens"),
    [
        ("nis/insured_persons.yaml", 300, (*PERSON_TOKENS, "nis_number_token")),
        ("tvet/trainees.yaml", 300, (*PERSON_TOKENS, "person_ref_token")),
        # complaints are rare: 300 persons file none in a year, 3,000 file about 16;
        # the complaint schema has no token the case system can fill
        ("dol/complaints.yaml", 3000, ()),
    ],
    ids=["nis", "tvet", "dol"],
)
def test_connector_publishes_the_nation_without_raw_identifiers(
    config_file: str,
    persons: int,
    tokens: tuple[str, ...],
    nations: Callable[[int], Path],
    tmp_path: Path,
) -> None:
    nation = nations(persons)
    config = agency_config(AGENCIES / config_file, nation, tmp_path)
    catalog = Catalog.load()
    lists = CodeLists.packaged()
    code_lists = {name: set(lists[name].labels) for name in lists}
    code_lists["regions"] = code_lists["region"]
    state = StateDB.open(config.state_db_path)
    private = Ed25519PrivateKey.generate()
    signer = Signer(f"{config.agency}-test", private)
    sender = Recorder()
    schema = catalog.get(config.agency, config.dataset, config.schema_major)
    publisher = EnvelopePublisher(
        schema=schema,
        topic=schema.topic,
        agreement_id=config.agreement_id,
        agreement_version=config.agreement_version,
        signer=signer,
        state=state,
        sender=sender,
        clock=lambda: NOW,
    )
    pipeline = Pipeline.from_config(
        config,
        state=state,
        link_key=LinkKey(b"k" * 32, key_id="link"),
        clock=lambda: NOW,
        code_lists=code_lists,  # type: ignore[arg-type]
        regions=frozenset(code_lists["region"]),
    )
    report = pipeline.run(publisher)
    state.close()

    assert report.rows_read >= 5, report.rows_read  # TVET: a few trainees in 300 persons
    assert len(report.refusals) <= report.rows_read * 0.2, report.refusals[:5]
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
        records.extend(opened.records)
    assert len(records) == report.records_published > 0
    assert set(schema.token_fields()) >= set(tokens)
    for field in tokens:
        filled = [r[field] for r in records if r[field] is not None]
        assert len(filled) >= 0.8 * len(records), field
        assert all(len(t) == 32 for t in filled)

    sent = b"".join(
        m.key + m.value + b"".join(n.encode() + v for n, v in m.headers) for m in sender.messages
    )
    leaked = sorted(s for s in truth_strings(nation) if s in sent)
    assert leaked == []
    # The scan can find what it looks for: the outbox and the source hold those strings
    # only on the source side.
    state = StateDB.open(config.state_db_path)
    held = b"".join(b.payload + b.headers for b in Outbox(state).batches())
    state.close()
    assert held and not any(s in held for s in truth_strings(nation))
    raw = b"".join(f.read_bytes() for f in (nation / "sources").rglob("*") if f.is_file())
    assert sum(s in raw for s in truth_strings(nation)) > 100
