"""Point an agency config at a given nation, data folder, broker and job-board API.

Every config in ``connectors/agencies/`` follows one convention: paths relative to the
folder the connector runs in, ``data/nation/`` the synthetic nation and ``data/`` the
connector's own data folder (state, keys); the job board's API at
``http://127.0.0.1:8088`` and the broker at ``127.0.0.1:19092``. This rewrites those
prefixes, so a test (or the contract suite) can run any config in a temporary folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from connectors.sdk.config import ConnectorConfig, parse_config

AGENCIES = Path(__file__).parents[3] / "connectors" / "agencies"
JOBBOARD_URL = "http://127.0.0.1:8088"


def agency_config_files() -> list[Path]:
    """Every agency config, ``<agency>/<dataset>.yaml``, sorted."""
    return sorted(AGENCIES.glob("*/*.yaml"))


def _rewrite(value: Any, *, nation: Path, data_dir: Path, jobboard_url: str) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, nation=nation, data_dir=data_dir, jobboard_url=jobboard_url)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [_rewrite(v, nation=nation, data_dir=data_dir, jobboard_url=jobboard_url)
                for v in value]  # fmt: skip
    if not isinstance(value, str):
        return value
    for prefix, scheme in (("sqlite:///", "sqlite:///"), ("", "")):
        if value.startswith(prefix + "data/nation/"):
            return f"{scheme}{nation.as_posix()}/{value.removeprefix(prefix + 'data/nation/')}"
        if value.startswith(prefix + "data/"):
            return f"{scheme}{data_dir.as_posix()}/{value.removeprefix(prefix + 'data/')}"
    if value.startswith(JOBBOARD_URL):
        return jobboard_url + value.removeprefix(JOBBOARD_URL)
    return value


def deployment_document(
    path: Path, *, nation: Path, data_dir: Path, bootstrap: str, jobboard_url: str = JOBBOARD_URL
) -> dict[str, Any]:
    """The config's YAML document with the conventional locations replaced."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = _rewrite(
        data, nation=nation, data_dir=data_dir, jobboard_url=jobboard_url
    )
    out["kafka"]["bootstrap_servers"] = bootstrap
    return out


def deployment_config(
    path: Path, *, nation: Path, data_dir: Path, bootstrap: str, jobboard_url: str = JOBBOARD_URL
) -> ConnectorConfig:
    """The validated config with the conventional locations replaced."""
    document = deployment_document(
        path, nation=nation, data_dir=data_dir, bootstrap=bootstrap, jobboard_url=jobboard_url
    )
    return parse_config(document, origin=str(path))
