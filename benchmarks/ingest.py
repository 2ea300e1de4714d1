"""Ingest worker throughput: records/s through the worker's decision (verify, dedupe,
coverage, re-key, lake commit, ledger + delivery + audit, receipt) against open_batch
alone (verify + decode, the floor of any ingest) on the same messages in the same run,
with messages decided in groups of the default size (HUB_INGEST__MAX_GROUP_MESSAGES:
one lake commit per group), and where the worker's time goes.

    .venv/bin/python -m benchmarks.ingest [--batches 200] [--records 500] [--group 64]
                                          [--repeat 1] [--single]
                                          [--dataset nis/contribution]

The hub's content validation (the schema's rules, :mod:`schemas.validation`) is measured
by deciding the same messages twice in the same run, with and without it: the ratio of
the two throughputs is its cost. ``--dataset nis/insured_person`` is the heaviest case
(twelve token columns, three coded fields).

Wall and CPU time of this process are both printed (on a shared machine the wall time
swings with other load); ``--repeat`` reports the fastest of several runs. The time per
group early and late in the run shows whether commits slow down as the table ages
(try ``--batches 1600 --records 25 --group 8``). ``--single`` also decides each
message alone (a group of one: one lake commit per message; slow, so off by default).
Everything runs in one SQLite hub database per variant (the embedded stack's setup,
lake catalog included) with a local warehouse folder, the worker wired by the
composition root (:mod:`hub_api.wiring`) as `lmis-hub ingest run` wires it; Kafka is
not involved (the end-to-end figure through the broker is another benchmark's).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from governance.agreements.document import parse_document
from governance.agreements.models import Agreement
from governance.keys.wrapping import KeyEncryptionKey
from governance.timestamps import utc_now
from hub_api.wiring import (
    Governance,
    activate_agreement,
    database,
    governance,
    ingest_worker,
    schema_catalog,
)
from integration.ingest import landing as landing_module
from integration.ingest.decisions import Delivered
from integration.ingest.rekey import TokenRekeyer
from lmis_hub.settings import IngestSettings, Settings, load_settings
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, open_batch, seal_batch
from schemas.keys import public_pem
from schemas.samples import opaque_sample_id, sample_records
from schemas.signing import Signer
from schemas.validation import RecordRules

EXAMPLE = Path(__file__).parents[1] / "governance" / "examples" / "nis-contributions.yaml"
ACTOR = "bench"
MAX_BYTES = 8 * 1024 * 1024


@dataclass
class Run:
    seconds: float
    stages: dict[str, float]
    snapshots: int
    group_seconds: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this process's CPU time (its writer threads included)


@dataclass(frozen=True)
class Baseline:
    seconds: float
    cpu_seconds: float


#: The worker's stages, timed by wrapping (name, owner, attribute): the owner is the
#: worker, its landing or its recorder (a method wrapped on the object), or the landing
#: module (a function it calls, wrapped for the run); "rules" and "rekeyer" are timed by
#: their own wrappers below.
STAGES = (
    ("verify + decode + coverage + rules", "worker", "_check"),
    ("  of which content rules", "rules", "raise_if_broken"),
    ("lake: re-key tokens (K_hub)", "rekeyer", "column"),
    ("lake: Arrow columns + Parquet files", "module", "stage_batches"),
    ("lake: commit (metadata)", "module", "commit_staged"),
    ("ledger + delivery + audit + receipts", "recorder", "store"),
    ("snapshot expiry", "landing", "bound_snapshots"),
)


def _timed(times: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[name] = times.get(name, 0.0) + time.perf_counter() - t

    return timed


class _TimedRekeyer:
    """The worker's rekeyer with its column re-keying timed."""

    def __init__(self, rekeyer: TokenRekeyer, times: dict[str, float]) -> None:
        self._rekeyer = rekeyer
        self.version = rekeyer.version
        self.column = _timed(times, "lake: re-key tokens (K_hub)", rekeyer.column)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rekeyer, name)


class _TimedRules:
    """A schema's rules with the check timed; ``None`` checks nothing (the variant
    without hub validation)."""

    def __init__(self, rules: RecordRules | None, times: dict[str, float]) -> None:
        self._rules = rules
        self._times = times

    def raise_if_broken(self, columns: Any, *, today: Any) -> None:
        if self._rules is not None:
            _timed(self._times, "  of which content rules", self._rules.raise_if_broken)(
                columns, today=today
            )


def _settings(tmp: Path) -> Settings:
    """A hub of its own in ``tmp``: one SQLite file (hub tables and lake catalog, the
    embedded stack's layout) and the lake folder."""
    return load_settings(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'hub.db'}",
        key_encryption_key=KeyEncryptionKey.generate_b64(),
        lake={"warehouse": str(tmp / "lake")},
        envelope={"max_message_bytes": MAX_BYTES},
    )


def _agreement_in_force(
    gov: Governance, dataset: str, schemas: SchemaCatalog
) -> tuple[Signer, Agreement]:
    """What the LMIS unit does with the CLI before NIS delivers: `agencies init`,
    `keys init-hub`, NIS's key registered, an agreement covering every field of
    ``dataset`` signed by NIS and the hub and activated. NIS's signer, the agreement."""
    gov.agencies.ensure_known(actor=ACTOR)
    gov.secrets().initialise(actor=ACTOR)
    private = Ed25519PrivateKey.generate()
    nis = Signer(
        gov.keys.register("nis", public_pem(private.public_key()), actor=ACTOR).key_id, private
    )
    sv = schemas.current("nis", dataset)
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    fields = [f["name"] for f in sv.fields if f["name"] != sv.record_id_field]
    data["datasets"] = {
        dataset: {"periodicity": "monthly", "delivery_lag_days": 20, "fields": fields}
    }
    data["valid_until"] = (utc_now() + timedelta(days=365)).date()  # in force whenever run
    doc = parse_document(data, where="bench")
    signers = {"nis": nis, "hub": gov.secrets().hub_signing_key()}
    agreement = activate_agreement(gov.agreements, doc, signers, actor=ACTOR, reason=ACTOR)
    gov.session.commit()
    return nis, agreement


def _variant(
    tmp: Path,
    batches: int,
    records: int,
    group: int,
    *,
    dataset: str = "nis/contribution",
    validate: bool = True,
) -> tuple[Run, Baseline]:
    """Set up a fresh hub through the composition root, seal the messages, decide them
    in groups of ``group``.

    Returns the run and the open_batch baseline on the same messages.
    """
    agency, dataset_name = dataset.split("/")
    if agency != "nis":
        raise SystemExit("--dataset: the benchmark's agreement is NIS's (nis/<dataset>)")
    settings = _settings(tmp)
    engine = database(settings)
    with Session(engine) as session:
        schemas = schema_catalog(settings)
        gov = governance(session, settings, actor=ACTOR)
        nis, agreement = _agreement_in_force(gov, dataset_name, schemas)
        worker, _kek = ingest_worker(session, settings, actor=ACTOR)
        sv = schemas.current(agency, dataset_name)
        messages: list[Message] = []
        for b in range(batches):
            rows = sample_records(sv, records)
            for i, r in enumerate(rows):
                r[sv.record_id_field] = opaque_sample_id(f"{b}:{i}")
            messages.extend(
                seal_batch(
                    rows,
                    schema=sv,
                    agreement_id=agreement.id,
                    agreement_version=agreement.version,
                    signer=nis,
                    now=utc_now(),
                    max_message_bytes=MAX_BYTES,
                )
            )
        public = nis.public_key()
        times: dict[str, float] = {}
        worker.rules = lambda schema: _TimedRules(  # type: ignore[assignment,return-value]
            RecordRules.of(schema) if validate else None, times
        )
        start, cpu = time.perf_counter(), time.process_time()
        for m in messages:
            open_batch(
                m.value,
                m.headers,
                catalog=schemas,
                public_key_for=lambda _k: public,
                now=utc_now(),
                max_skew=timedelta(minutes=5),
                max_message_bytes=MAX_BYTES,
            )
        baseline = time.perf_counter() - start
        baseline_cpu = time.process_time() - cpu
        worker.landing.rekeyer = _TimedRekeyer(worker.landing.rekeyer, times)  # type: ignore[assignment]
        real_module = {
            attr: getattr(landing_module, attr) for _n, owner, attr in STAGES if owner == "module"
        }
        owners: dict[str, Any] = {
            "worker": worker,
            "landing": worker.landing,
            "recorder": worker.recorder,
        }
        for name, owner, attr in STAGES:
            if owner in owners:
                target = owners[owner]
                setattr(target, attr, _timed(times, name, getattr(target, attr)))
            elif owner == "module":
                setattr(landing_module, attr, _timed(times, name, real_module[attr]))
        deliveries = [Delivered(sv.topic, 0, i, m.value, m.headers) for i, m in enumerate(messages)]
        outcomes = []
        group_seconds: list[float] = []
        cpu = time.process_time()
        try:
            for i in range(0, len(deliveries), group):
                t = time.perf_counter()
                outcomes.extend(worker.process_group(deliveries[i : i + group]))
                group_seconds.append(time.perf_counter() - t)
        finally:
            for attr, fn in real_module.items():
                setattr(landing_module, attr, fn)
        assert all(o.status == "accepted" for o in outcomes), outcomes[0]
        table = worker.lake.load_table(f"bronze.{agency}__{dataset_name}")
        snapshots = len(table.metadata.snapshots)
        rows = table.scan().to_arrow().num_rows
        assert rows == batches * records, (rows, batches * records)
    engine.dispose()
    cpu = time.process_time() - cpu
    return Run(sum(group_seconds), times, snapshots, group_seconds, cpu), Baseline(
        baseline, baseline_cpu
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--group", type=int, default=IngestSettings().max_group_messages)
    parser.add_argument("--single", action="store_true", help="also decide messages one by one")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per variant; the fastest is reported"
    )
    parser.add_argument("--dataset", default="nis/contribution", help="a NIS dataset")
    args = parser.parse_args()
    total = args.batches * args.records
    runs: dict[int, Run] = {}
    unvalidated: Run | None = None
    baselines: list[Baseline] = []
    for group in ((1,) if args.single else ()) + (args.group,):
        for _ in range(args.repeat):
            for validate in (True, False) if group == args.group else (True,):
                with tempfile.TemporaryDirectory() as tmp:
                    run, baseline = _variant(
                        Path(tmp),
                        args.batches,
                        args.records,
                        group,
                        dataset=args.dataset,
                        validate=validate,
                    )
                baselines.append(baseline)
                if not validate:
                    if unvalidated is None or run.seconds < unvalidated.seconds:
                        unvalidated = run
                elif group not in runs or run.seconds < runs[group].seconds:
                    runs[group] = run
    wall = min(b.seconds for b in baselines)
    cpu = min(b.cpu_seconds for b in baselines)
    print(
        f"{args.dataset}: messages: {args.batches}, records: {total}, "
        f"fastest of {args.repeat} run(s)"
    )
    print(
        f"open_batch alone (baseline) : {wall:8.3f} s  {total / wall:10.0f} records/s  "
        f"(CPU {cpu:.3f} s)"
    )
    for group, run in runs.items():
        print(
            f"ingest, groups of {group:<9} : {run.seconds:8.3f} s  {total / run.seconds:10.0f} "
            f"records/s  ratio to open_batch {wall / run.seconds:.2f}  "
            f"(CPU {run.cpu_seconds:.3f} s, ratio {cpu / run.cpu_seconds:.2f})  "
            f"snapshots left {run.snapshots}"
        )
    grouped = runs[args.group]
    if unvalidated is not None:
        print(
            f"same, without hub validation : {unvalidated.seconds:8.3f} s  "
            f"{total / unvalidated.seconds:10.0f} records/s  "
            f"(CPU {unvalidated.cpu_seconds:.3f} s)"
        )
        print(
            f"hub validation costs {100 * (1 - unvalidated.seconds / grouped.seconds):.1f} % "
            f"of ingest throughput (wall), "
            f"{100 * (1 - unvalidated.cpu_seconds / grouped.cpu_seconds):.1f} % (CPU)"
        )
    print(f"where the time goes (groups of {args.group}):")
    for name, _owner, _attr in STAGES:
        spent = grouped.stages.get(name, 0.0)
        print(f"  {name:<38} {spent:8.3f} s  {100 * spent / grouped.seconds:5.1f} %")
    other = grouped.seconds - sum(
        grouped.stages.get(n, 0.0) for n, _o, _a in STAGES if not n.startswith(" ")
    )
    print(
        f"  {'other (lookups, table refresh)':<38} {other:8.3f} s  "
        f"{100 * other / grouped.seconds:5.1f} %"
    )
    # Whole groups only (the last may be short); the first includes creating the table.
    whole = grouped.group_seconds[: args.batches // args.group] or grouped.group_seconds
    n = max(1, len(whole) // 10)
    early, late = sum(whole[1 : n + 1] or whole[:1]) / n, sum(whole[-n:]) / n
    print(f"seconds per whole group, groups 2..{n + 1} vs the last {n}: {early:.3f} vs {late:.3f}")
    if 1 in runs and args.group != 1:
        faster = runs[1].seconds / grouped.seconds
        print(f"groups of {args.group} vs groups of 1: {faster:.1f}x faster")


if __name__ == "__main__":
    main()
