"""Crash safety of the whole spine, with exact reconciliation.

A synthetic nation of 10,000 persons (102,900 NIS contributions, plus the NIS employers
and the NSO business register) is published by the real connectors to a real broker
and ingested by `lmis-hub ingest run` as a real process on a file-backed SQLite hub
database and its own lake folder. Then, for every dataset: rows in the lake equal the
source rows, no batch landed twice (the lineage column against the ledger), every batch
is in the ledger once and receipted as accepted to its connector, nothing is
quarantined, and the audit chain verifies.

- ``test_sigkill_the_workers_again_and_again``: two workers in one consumer group are
  SIGKILLed in turn at seeded random moments while they work through the load, ten
  times, and each is started again at once.
- ``test_restart_the_broker_mid_load``: the memory-only broker is killed and started
  again on the same port in the middle of the load (every topic, offset and receipt is
  gone); the connectors send again what has no receipt from their outboxes.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from connectors.sdk.errors import PublishFailed
from schemas.catalog import SchemaCatalog
from tests.fixtures.database import new_postgres_database
from tests.fixtures.hub import ProvisionedHub
from tests.fixtures.kafka import Broker
from tests.integration.spine import (
    Connector,
    WorkerProcess,
    connector,
    describe,
    ledger_size,
    make_nation,
    reconcile,
    wait_until,
)

log = logging.getLogger(__name__)

DATASETS = ["nis/contribution", "nis/employer", "nso/business_register"]
SEED = 20260310
KILLS = 10
#: Small batches and groups: about 400 messages in 200 lake commits, so the kills land
#: between many different steps, and the load outlasts ten restarts of two workers
#: that share every topic's partitions.
BATCH_SIZE = 250
#: A killed worker's successor consumes again 4 s after it joins with a 2 s session
#: (11 s with the default 6 s: the dead member keeps its partitions until it expires).
#: The connectors' receipt timeout in the broker test: what has no receipt this long
#: after it was sent is sent again from the outbox.
RESEND_AFTER_S = 8.0
#: A send the broker does not acknowledge fails after this long (the batch stays in
#: the outbox); 30 s by default, shorter so the test does not wait on it.
SEND_TIMEOUT_S = 5.0
WORKER_SETTINGS = {
    "HUB_INGEST__MAX_GROUP_MESSAGES": "2",
    "HUB_INGEST__MAX_GROUP_WAIT_MS": "50",
    "HUB_KAFKA__GROUP_SESSION_TIMEOUT_MS": "2000",
}


@pytest.fixture(scope="module")
def nation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_nation(tmp_path_factory.mktemp("nation"), persons=10_000, months=24)


@pytest.fixture(scope="module")
def schemas() -> SchemaCatalog:
    return SchemaCatalog.load()


@pytest.fixture
def broker(restartable_broker: Broker) -> Broker:
    """A broker of this test's own: the worker subscribes to every agency topic."""
    return restartable_broker


def _connectors(
    hub: ProvisionedHub,
    nation: Path,
    tmp_path: Path,
    bootstrap: str,
    schemas: SchemaCatalog,
    resend_s: float,
) -> list[Connector]:
    return [
        connector(
            d,
            nation=nation,
            data_dir=tmp_path / "agency",
            bootstrap=bootstrap,
            hub=hub,
            schemas=schemas,
            batch_size=BATCH_SIZE,
            resend_after_s=resend_s,
            send_timeout_s=SEND_TIMEOUT_S,
        )
        for d in DATASETS
    ]


class Publishing(threading.Thread):
    """The connectors' publishing run in the background; failures are kept, not raised
    (a failed send leaves the batch in the outbox, as a crashed `connector run` does)."""

    def __init__(self, connectors: list[Connector]) -> None:
        super().__init__(daemon=True)
        self.connectors = connectors
        self.failures: list[str] = []

    def run(self) -> None:
        for c in self.connectors:
            try:
                c.publish()
            except Exception as exc:
                self.failures.append(f"{c.key}: {type(exc).__name__}: {exc}")


def _create_topics(bootstrap: str, schemas: SchemaCatalog, *, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for key in DATASETS:
            agency, dataset = key.split("/")
            topic = schemas.current(agency, dataset).topic
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def _drain(connectors: list[Connector], *, timeout_s: float, resend: bool) -> None:
    """Read receipts (and with ``resend`` send again what has none) until every batch of
    every outbox is settled."""
    deadline = time.monotonic() + timeout_s
    while True:
        for c in connectors:
            c.receipts(timeout_s=0.2)
            if resend:
                with contextlib.suppress(PublishFailed):  # the next pass sends again
                    c.resend()
        states = {c.key: c.outbox_states() for c in connectors}
        if all(set(s) == {"accepted"} for s in states.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"outboxes not settled after {timeout_s:.0f} s: {states}")
        time.sleep(0.3)


def _assert_exact(hub: ProvisionedHub, nation: Path, connectors: list[Connector]) -> None:
    r = reconcile(hub, nation, DATASETS)
    assert r.source["nis/contribution"] >= 100_000
    for key in DATASETS:
        assert r.lake[key] == r.source[key], (key, describe(r))
        assert r.ledger_records[key] == r.source[key], (key, describe(r))
        # the worker expires older appends; those its snapshots still name are recorded
        assert r.snapshot_batches[key] <= r.ledger_ids, (key, describe(r))
    assert r.lake_batches_doubled == []
    # Every part any connector sent is in the ledger once, and nothing else is.
    sent = set().union(*(c.part_ids() for c in connectors))
    assert r.ledger_ids == sent
    assert sum(r.ledger_batches.values()) == len(sent)
    for c in connectors:
        assert set(c.outbox_states()) == {"accepted"}, c.key
    assert r.quarantined == 0
    assert r.audit_intact and r.audit_entries > len(sent)


@pytest.fixture
def crash_database(postgres_server_url: str) -> Iterator[str]:
    """A PostgreSQL hub database of the test's own, dropped afterwards."""
    with new_postgres_database(postgres_server_url, "lmis_crash") as url:
        yield url


@pytest.mark.slow
def test_sigkill_the_workers_again_and_again(
    nation: Path,
    schemas: SchemaCatalog,
    broker: Broker,
    tmp_path: Path,
    crash_database: str,
    make_provisioned_hub: Callable[..., ProvisionedHub],
) -> None:
    """Two workers in one group, as in production, killed in turn: while one starts
    again (imports, group join) the other works, and takes over the partitions of the
    dead one once its session expires. The hub database (and the lake catalog in it) is
    PostgreSQL, as a deployment's is: two writers on one SQLite file wait on its lock."""
    started = time.monotonic()
    rng = random.Random(SEED)
    hub = make_provisioned_hub(DATASETS, schemas=schemas, database_url=crash_database)
    # Topics of two partitions, as a deployment has several: both workers of the group
    # then hold part of every large dataset, so each has work to be killed in until the
    # end (with one partition per topic the last contributions could all sit with the
    # other worker, and the victim would never work again).
    _create_topics(broker.bootstrap, schemas, partitions=2)
    # No resend in this test: a killed worker must lose nothing the broker still holds.
    connectors = _connectors(hub, nation, tmp_path, broker.bootstrap, schemas, resend_s=3600)
    env = hub.worker_env(broker.bootstrap, tmp_path / "worker", **WORKER_SETTINGS)
    workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log") for n in ("a", "b")]
    publishing = Publishing(connectors)
    try:
        kills_from = time.monotonic()
        for worker in workers:
            worker.start()
        publishing.start()
        kill_log: list[tuple[str, float, int]] = []

        def all_in() -> bool:
            sent = sum(len(c.part_ids()) for c in connectors)
            return not publishing.is_alive() and ledger_size(hub) >= sent

        for n in range(KILLS):
            victim = workers[n % 2]

            def ready(victim: WorkerProcess = victim) -> bool:
                return victim.worked() or all_in()

            # a random moment after this life's first decision: somewhere in a later group
            wait_until(
                ready, timeout_s=60, what=f"{victim.log_path.name} to work (kills: {kill_log})"
            )
            if not victim.worked():
                break  # the other worker took in the rest first: nothing left to kill into
            delay = rng.uniform(0.0, 0.8)
            time.sleep(delay)
            assert victim.alive(), victim.log_path.read_text()[-3000:]
            victim.kill()
            kill_log.append((victim.log_path.stem, round(delay, 2), ledger_size(hub)))
            victim.start()
        publishing.join(60)
        assert not publishing.is_alive() and publishing.failures == []
        # Each worker was killed in the middle of its work several times.
        assert len(kill_log) >= KILLS - 2, kill_log
        assert min(w.kills for w in workers) >= (KILLS - 2) // 2, kill_log
        total = sum(len(c.part_ids()) for c in connectors)
        # The kills fell during the load: the last one left batches to ingest.
        assert kill_log[-1][2] < total, kill_log
        killed = time.monotonic()
        _drain(connectors, timeout_s=90, resend=False)
        drained = time.monotonic()
        for worker in workers:
            assert worker.alive(), worker.log_path.read_text()[-3000:]
            worker.stop()
        _assert_exact(hub, nation, connectors)
    finally:
        for worker in workers:
            worker.stop()
        for c in connectors:
            c.close()
    kills = sum(w.kills for w in workers)
    assert kills >= KILLS - 2
    print(
        f"\n{kills} kills (worker, delay s, ledger batches): {kill_log}; setup "
        f"{kills_from - started:.1f} s, kills {killed - kills_from:.1f} s, drain "
        f"{drained - killed:.1f} s, total {time.monotonic() - started:.1f} s"
    )


@pytest.mark.slow
def test_restart_the_broker_mid_load(
    nation: Path,
    schemas: SchemaCatalog,
    broker: Broker,
    tmp_path: Path,
    make_provisioned_hub: Callable[..., ProvisionedHub],
) -> None:
    started = time.monotonic()
    hub = make_provisioned_hub(DATASETS, schemas=schemas)
    connectors = _connectors(
        hub, nation, tmp_path, broker.bootstrap, schemas, resend_s=RESEND_AFTER_S
    )
    worker = WorkerProcess(
        hub.worker_env(broker.bootstrap, tmp_path / "worker", **WORKER_SETTINGS),
        tmp_path / "worker.log",
    )
    publishing = Publishing(connectors)
    try:
        worker.start()
        publishing.start()
        wait_until(lambda: ledger_size(hub) >= 20, timeout_s=60, what="the first batches")
        before = ledger_size(hub)
        broker.restart()  # topics, offsets, receipts and the consumer group are gone
        restarted = time.monotonic()
        publishing.join(90)
        assert not publishing.is_alive()
        # Sends to the restarted broker failed as the SDK's own error, never a raw one.
        assert all("PublishFailed" in f for f in publishing.failures), publishing.failures
        # `connector run` again: the rows after the watermark (a run that failed left
        # some), then receipts, and resending from the outbox whatever has had no receipt
        # for the timeout.
        for c in connectors:
            for attempt in range(1, 4):  # as a scheduler runs a failed connector again
                try:
                    c.publish()
                    break
                except PublishFailed:
                    if attempt == 3:
                        raise
        _drain(connectors, timeout_s=90, resend=True)
        drained = time.monotonic()
        # The worker rode out the broker's restart: it rejoined the group it lost.
        assert worker.alive() and worker.starts == 1, worker.log_path.read_text()[-3000:]
        worker.stop()
        _assert_exact(hub, nation, connectors)
        total = sum(len(c.part_ids()) for c in connectors)
    finally:
        worker.stop()
        for c in connectors:
            c.close()
    assert broker.restarts == 1 and before < total
    print(
        f"\nbroker restarted after {before} of {total} batches; publishing failures "
        f"{publishing.failures}; setup-to-restart "
        f"{restarted - started:.1f} s, drain {drained - restarted:.1f} s, total "
        f"{time.monotonic() - started:.1f} s"
    )
