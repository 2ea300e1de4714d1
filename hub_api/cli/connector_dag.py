"""`lmis-hub connector dag`: the Airflow DAG file that runs a connector on its agreement's
periodicity, for an agency that runs Airflow (the factory is dags/agency_connector.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import typer

from connectors.sdk.config import load_config
from connectors.sdk.errors import ConnectorConfigInvalid
from hub_api.cli.connector_common import CONFIG
from hub_api.cli.context import get_context
from infra.airflow_standalone import DAGS_FOLDER

FACTORY = "agency_connector.py"
PERIODICITIES = ("daily", "weekly", "monthly", "quarterly", "annual")

TEMPLATE = '''"""{agency}/{dataset}: the connector as an Airflow DAG, {periodicity}.

Written by `lmis-hub connector dag`; the factory is agency_connector.py beside it.
"""

from agency_connector import connector_dag

connector_dag(dag_id={dag_id!r}, config={config!r}, periodicity={periodicity!r})
'''


def dag_command(
    ctx: typer.Context,
    config: Path = CONFIG,
    out: Path = typer.Option(..., "--out", help="The Airflow DAG folder to write into."),
    periodicity: str | None = typer.Option(
        None, help="daily, weekly, monthly, quarterly or annual (default: the config's)."
    ),
) -> None:
    """Write the Airflow DAG file that runs this connector on its agreement's periodicity
    (and the DAG factory beside it); the DAG retries while the broker is unreachable."""
    cli = get_context(ctx)
    loaded = load_config(config)
    chosen = periodicity or loaded.periodicity
    if chosen not in PERIODICITIES:
        raise ConnectorConfigInvalid(
            f"periodicity: {chosen!r} is not one of {', '.join(PERIODICITIES)}; set it in "
            "the config (the agreement's periodicity for this dataset) or pass --periodicity"
        )
    dag_id = re.sub(r"[^a-z0-9_]", "_", f"connector_{loaded.agency}_{loaded.dataset}".lower())
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{dag_id}.py"
    target.write_text(
        TEMPLATE.format(
            agency=loaded.agency, dataset=loaded.dataset, periodicity=chosen,
            dag_id=dag_id, config=str(config.resolve()),
        ),
        encoding="utf-8",
    )  # fmt: skip
    factory = out / FACTORY
    if factory.resolve() != (DAGS_FOLDER / FACTORY).resolve():
        shutil.copyfile(DAGS_FOLDER / FACTORY, factory)
    ignore = out / ".airflowignore"
    listed = ignore.read_text(encoding="utf-8").split() if ignore.exists() else []
    if FACTORY not in listed:
        ignore.write_text("\n".join([*listed, FACTORY]) + "\n", encoding="utf-8")
    data = {"dag_id": dag_id, "file": str(target), "periodicity": chosen}
    cli.emit(data, lambda console: console.print(f"wrote {target} ({dag_id}, {chosen})"))
