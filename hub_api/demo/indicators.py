"""The demo's indicator release: build the package from the lake, publish it, and put a
few headline figures beside the synthetic nation's true values (``truth/indicators.json``,
which the hub never reads: only the demo, which plays every part, does).

Headline figures: the LFS unemployment rate and employment-to-population ratio for the
last quarter (all persons, every region), with their standard errors, and the share of
TVET certificate holders in insured employment within 6 months, over the whole period.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hub_api.wiring import (
    governance_in_steps,
    governance_session,
    indicator_releases,
    lake_catalog,
)
from integration.indicators.release_gold import read_release
from lmis_hub.errors import HubError
from lmis_hub.settings import Settings

#: Dimension columns of the gold observations: a headline is the total of each.
DIMENSIONS = ("sex", "age_group", "region", "isic_section", "isco_major", "field")


@dataclass
class IndicatorsReport:
    release: str | None = None
    published: int = 0
    withheld: dict[str, str] = field(default_factory=dict)
    observations: int = 0
    suppressed: int = 0
    folder: str | None = None
    headlines: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "published": self.published,
            "withheld": self.withheld,
            "observations": self.observations,
            "suppressed": self.suppressed,
            "folder": self.folder,
            "headlines": self.headlines,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def _totals(obs: pa.Table, indicator: str) -> list[dict[str, Any]]:
    """The indicator's all-totals observations by period, in period order."""
    mask = pc.equal(obs["indicator"], indicator)
    for column in DIMENSIONS:
        if column in obs.column_names:
            total = pc.or_kleene(pc.is_null(obs[column]), pc.equal(obs[column], "_T"))
            mask = pc.and_(mask, total)
    rows = obs.filter(mask).select(["time_period", "obs_value", "standard_error"]).to_pylist()
    return sorted(rows, key=lambda r: r["time_period"])


def _headlines(obs: pa.Table, truth: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    quarters = truth.get("quarters", {})
    for indicator, key in (
        ("lfs_unemployment_rate", "unemployment_rate"),
        ("lfs_employment_to_population", "employment_to_population"),
    ):
        rows = [r for r in _totals(obs, indicator) if r["obs_value"] is not None]
        if not rows:
            continue
        last = rows[-1]
        true = quarters.get(last["time_period"].replace("-", ""), {}).get(key)
        out.append(
            {
                "indicator": indicator,
                "period": last["time_period"],
                "value": last["obs_value"],
                "standard_error": last["standard_error"],
                "truth": None if true is None else round(100 * true, 3),
            }
        )
    tvet = truth.get("tvet_graduates_insured_within_6_months", {})
    rows = _totals(obs, "tvet_certified_insured_6m")
    if rows and tvet.get("rate") is not None:
        out.append(
            {
                "indicator": "tvet_certified_insured_6m",
                "period": f"by year (true value over {rows[0]['time_period']}..)",
                "value": {r["time_period"]: r["obs_value"] for r in rows},
                "standard_error": None,
                "truth": round(100 * tvet["rate"], 3),
            }
        )
    return out


def run_indicators(settings: Settings, *, nation: Path) -> IndicatorsReport:
    """Build and publish one release; the headline figures beside the truth."""
    started = time.perf_counter()
    report = IndicatorsReport()
    try:
        with governance_in_steps(settings, actor="demo") as gov:
            release = indicator_releases(gov).build(actor="demo").id
            report.release = release
        with governance_session(settings, actor="demo") as gov:
            published = indicator_releases(gov).publish(release, actor="demo")
            report.withheld = dict(published.withheld)
            report.published = len(published.indicators) - len(report.withheld)
            report.folder = (
                str(settings.publication_dir / published.folder) if published.folder else None
            )
            report.observations = published.observations
            snapshot = published.gold_snapshot
        obs = read_release(lake_catalog(settings), release, snapshot)
        report.suppressed = int(pc.sum(pc.is_null(obs["obs_value"]).cast(pa.int64())).as_py())
        truth_file = nation / "truth" / "indicators.json"
        truth = json.loads(truth_file.read_text(encoding="utf-8")) if truth_file.exists() else {}
        report.headlines = _headlines(obs, truth)
    except HubError as exc:
        report.error = f"[{exc.code}] {exc.message}"
    finally:
        report.seconds = time.perf_counter() - started
    return report
