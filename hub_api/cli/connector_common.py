"""What the `lmis-hub connector` commands share: the --config option, the clock, the
config with its connector kit, and what the agreement notices say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer

from connectors.sdk.agreement_notices import superseded
from connectors.sdk.config import ConnectorConfig, load_config
from connectors.sdk.kit import ConnectorKit
from connectors.sdk.state import StateDB
from hub_api.cli.context import CliContext
from hub_api.wiring import connector_kit

CONFIG = typer.Option(..., "--config", help="The connector's YAML file.")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Wiring:
    """A command's config with the connector kit of the composition root."""

    config: ConnectorConfig
    kit: ConnectorKit


def wiring(cli: CliContext, path: Path) -> Wiring:
    config = load_config(path)
    return Wiring(config, connector_kit(cli.settings))


def superseded_message(config: ConnectorConfig, state: StateDB) -> str | None:
    """What the hub's agreement notices say about the config's agreement version."""
    found = superseded(state, config.agreement_id, config.agreement_version)
    return None if found is None else found.message
