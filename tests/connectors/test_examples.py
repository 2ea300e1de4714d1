"""The templates in ``connectors/examples/`` work as starting points: each follows the
one path convention and passes ``lmis-hub connector validate`` against a synthetic
nation, with real key files where the convention puts them (a new example is tested
without being named here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.sdk.config import load_config
from connectors.sdk.linkkey import LinkKey, write_link_key_file
from hub_api.cli import app
from schemas.keys import encrypted_private_pem, public_pem
from tests.connectors.agencies.deployment import deployment_document
from tests.connectors.conftest import Nation

EXAMPLES = sorted((Path(__file__).parents[2] / "connectors" / "examples").glob("*.yaml"))
SIGNING_PASSPHRASE, LINK_PASSPHRASE = "agency key passphrase", "link key passphrase"


def test_there_are_examples() -> None:
    assert EXAMPLES, "connectors/examples/ holds no *.yaml"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_follows_the_path_convention(path: Path) -> None:
    config = load_config(path)
    paths = [config.state_dir, config.tokenise.link_key_file, config.signing_key_file]
    paths += [config.hub_public_key_file, getattr(config.source, "directory", None)]
    assert None not in paths[:4], "a template names every key file and the state folder"
    assert all(str(p).startswith("data/") for p in paths if p is not None)
    assert str(config.state_dir) == f"data/connectors/{config.agency}/{config.dataset}"
    assert str(config.signing_key_file) == f"data/keys/{config.agency}.key.pem"
    assert (str(config.hub_public_key_file), str(config.tokenise.link_key_file)) == (
        "data/keys/hub.pub.pem",
        "data/keys/link.key",
    )
    assert config.agreement_id == f"dsa-{config.agency}-lmis"


def write_keys(data_dir: Path, agency: str) -> None:
    """The files the convention names under ``data/keys/``, encrypted as at an agency."""
    keys = data_dir / "keys"
    keys.mkdir(parents=True)
    agency_key = Ed25519PrivateKey.generate()
    (keys / f"{agency}.key.pem").write_bytes(
        encrypted_private_pem(agency_key, SIGNING_PASSPHRASE.encode())
    )
    (keys / "hub.pub.pem").write_text(public_pem(Ed25519PrivateKey.generate().public_key()))
    write_link_key_file(
        keys / "link.key",
        LinkKey.generate(key_id=1),
        SecretStr(LINK_PASSPHRASE),
        scrypt_n=2**10,
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_validates_against_a_nation(path: Path, nation: Nation, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    document = deployment_document(
        path,
        nation=nation.folder,
        data_dir=data_dir,
        bootstrap="127.0.0.1:9",  # validate sends nothing
        jobboard_url=nation.jobboard_url,
    )
    write_keys(data_dir, document["agency"])
    deployed = tmp_path / path.name
    deployed.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    env = {
        "HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE": SIGNING_PASSPHRASE,
        "HUB_CONNECTOR__LINK_KEY_PASSPHRASE": LINK_PASSPHRASE,
        "HUB_CONNECTOR__LINK_KEY": None,
    }
    result = CliRunner().invoke(
        app, ["--json", "connector", "validate", "--config", str(deployed)], env=env
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["problems"] == [] and report["warnings"] == []
    assert report["records"] > 0 and report["refused_rows"] == 0
    assert report["topic"] == load_config(path).topic
