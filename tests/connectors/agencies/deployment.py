"""Point an agency config at a given nation, data folder, broker and job-board API.

The rewriting itself is the demo's (``hub_api.demo.connectors.deployment_document``):
paths relative to the connector's folder, ``data/nation/`` the synthetic nation,
``data/`` the connector's own data folder, the job board's API at
``http://127.0.0.1:8088``. A test (or the contract suite) runs any config in a temporary
folder with it.
"""

from __future__ import annotations

from pathlib import Path

from connectors.sdk.config import ConnectorConfig, parse_config
from hub_api.demo.connectors import (
    AGENCY_CONFIGS,
    JOBBOARD_URL,
    agency_config_files,
    deployment_document,
)

AGENCIES = AGENCY_CONFIGS

__all__ = [
    "AGENCIES",
    "JOBBOARD_URL",
    "agency_config_files",
    "deployment_config",
    "deployment_document",
]


def deployment_config(
    path: Path, *, nation: Path, data_dir: Path, bootstrap: str, jobboard_url: str = JOBBOARD_URL
) -> ConnectorConfig:
    """The validated config with the conventional locations replaced."""
    document = deployment_document(
        path, nation=nation, data_dir=data_dir, bootstrap=bootstrap, jobboard_url=jobboard_url
    )
    return parse_config(document, origin=str(path))
