"""Governance benchmark on PostgreSQL: audit appends, chain verification, policy
decisions and agreement checks, each with a baseline measured in the same run.

    .venv/bin/python benchmarks/governance_throughput.py [--entries 1000000] [--appends 2000]

Needs a PostgreSQL server where it may create a scratch database (default
postgresql://postgres@127.0.0.1:5432/postgres, or --server URL); the scratch
database is dropped at the end. The database and the agreement services come from the
composition root (:mod:`hub_api.wiring`), as the CLI's do; the audit figures measure
the chained writer itself (:class:`~governance.audit.services.AuditLog`).
"""

# ruff: noqa: E402  (the import path is fixed before the project imports)
from __future__ import annotations

import sys
from pathlib import Path

# This script is named like the package it measures: keep its own folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from governance.agreements.document import load_yaml
from governance.audit.chain import entry_hash, verify_chain
from governance.audit.chain_reader import raw_rows
from governance.audit.services import AuditLog
from governance.keys.wrapping import KeyEncryptionKey
from governance.policy.decision import (
    AccessRequest,
    AgreementInForce,
    PolicyContext,
    ProjectApproval,
    Resource,
    Subject,
    decide,
)
from governance.policy.services import PolicyService
from governance.timestamps import utc_now
from hub_api.wiring import activate_agreement, database, governance
from lmis_hub.settings import Settings, load_settings
from schemas.keys import load_public_pem, public_pem
from schemas.signing import Signer

EXAMPLE = Path(__file__).parents[1] / "governance" / "examples" / "nis-contributions.yaml"
ACTOR = "bench"


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"


def libpq(url: str) -> dict[str, object]:
    u = make_url(url)
    return {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username or "postgres",
        "dbname": u.database or "postgres",
        **({"password": u.password} if u.password else {}),
    }


def bench_appends(engine: sa.Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE plain_log (seq BIGINT PRIMARY KEY, at TIMESTAMPTZ, tag VARCHAR(64), "
                "actor VARCHAR(200), subject VARCHAR(300), details TEXT, hash VARCHAR(64))"
            )
        )
    details = {"dataset": "nis.contributions", "records": 500, "allowed": True}
    # Baseline: a plain insert per transaction into an unchained table.
    t = time.perf_counter()
    for i in range(n):
        with Session(engine) as s, s.begin():
            s.execute(
                sa.text(
                    "INSERT INTO plain_log VALUES (:seq, now(), 'policy:decision', 'bench', "
                    "'dataset:nis', :d, :h)"
                ),
                {"seq": i, "d": str(details), "h": "0" * 64},
            )
    plain = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n):
        with Session(engine) as s, s.begin():
            AuditLog(s, clock=utc_now).record("policy:decision", "bench", "dataset:nis", details)
    chained = time.perf_counter() - t
    print(
        f"audit appends, one transaction each ({n}): chained {rate(n, chained)}, "
        f"plain insert {rate(n, plain)}, ratio chained/plain = {plain / chained:.2f}"
    )
    # Many appends in one transaction (e.g. an ingest batch).
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE plain_log"))
    t = time.perf_counter()
    with Session(engine) as s, s.begin():
        for i in range(n):
            s.execute(
                sa.text(
                    "INSERT INTO plain_log VALUES (:seq, now(), 'policy:decision', 'bench', "
                    "'dataset:nis', :d, :h)"
                ),
                {"seq": i, "d": str(details), "h": "0" * 64},
            )
    plain = time.perf_counter() - t
    t = time.perf_counter()
    with Session(engine) as s, s.begin():
        log = AuditLog(s, clock=utc_now)
        for _ in range(n):
            log.record("policy:decision", "bench", "dataset:nis", details)
    chained = time.perf_counter() - t
    print(
        f"audit appends, one transaction for all ({n}): chained {rate(n, chained)}, "
        f"plain insert {rate(n, plain)}, ratio chained/plain = {plain / chained:.2f}"
    )


def build_chain(url: str, n: int) -> float:
    """Append n entries after the current head with COPY (hashes computed here)."""
    t = time.perf_counter()
    with psycopg.connect(**libpq(url)) as conn:  # type: ignore[arg-type]
        seq, prev = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()  # type: ignore[misc]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        with conn.cursor().copy(
            "COPY audit_entries (seq, at, tag, actor, subject, details, prev_hash, hash) FROM STDIN"
        ) as copy:
            for i in range(seq + 1, seq + n + 1):
                at = start + timedelta(microseconds=i * 1000)
                details = f'{{"batch":{i},"records":500}}'
                h = entry_hash(i, at, "delivery:accepted", "ingest", f"batch:{i}", details, prev)
                copy.write_row(
                    (i, at, "delivery:accepted", "ingest", f"batch:{i}", details, prev, h)
                )
                prev = h
        conn.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (seq + n, prev))
    return time.perf_counter() - t


def bench_verify(engine: sa.Engine, settings: Settings, url: str, n: int) -> None:
    built = build_chain(url, n)
    with Session(engine) as s:
        total = s.execute(sa.text("SELECT count(*) FROM audit_entries")).scalar_one()
        t = time.perf_counter()
        rows = 0
        for _ in s.execute(
            sa.text(
                "SELECT seq, at, tag, actor, subject, details, prev_hash, hash "
                "FROM audit_entries ORDER BY seq"
            ).execution_options(yield_per=20_000)
        ):
            rows += 1
        read = time.perf_counter() - t
        driver = s.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        t = time.perf_counter()
        with driver.transaction(force_rollback=True):
            raw = sum(1 for _ in raw_rows(driver, first=1, batch=20_000))
        streamed = time.perf_counter() - t
        log = AuditLog(s, clock=utc_now)
        t = time.perf_counter()
        result = log.verify()
        verify = time.perf_counter() - t
        t = time.perf_counter()
        reference = verify_chain(
            log.iter_chain(), head=log.head(), checkpoints=log.list_checkpoints()
        )
        walked = time.perf_counter() - t
    assert result.ok and result == reference, result.summary()
    print(
        f"chain of {total:,} entries (built {n:,} with COPY in {built:.1f} s): "
        f"verify {rate(total, verify)} ({verify:.1f} s), plain ordered read "
        f"{rate(rows, read)}, ratio verify/read = {read / verify:.2f}; "
        f"raw rows streamed alone {rate(raw, streamed)}, "
        f"reference walk over entries {rate(total, walked)}"
    )
    # As a hub runs: every entry covered by a signed checkpoint, its signature checked.
    with Session(engine) as s, s.begin():
        gov = governance(s, settings, actor=ACTOR)
        gov.audit.sign_checkpoint(gov.secrets().hub_signing_key(), actor=ACTOR)
        hub_keys = {
            k.key_id: load_public_pem(k.public_key_pem, where=k.key_id)
            for k in gov.keys.list("hub")
        }
    with Session(engine) as s:
        t = time.perf_counter()
        covered = AuditLog(s, clock=utc_now).verify(public_keys=hub_keys)
        verify = time.perf_counter() - t
    assert covered.ok and covered.covered_up_to == total, covered.summary()
    print(
        f"the same chain under a signed checkpoint, signature checked: "
        f"verify {rate(covered.checked, verify)} ({verify:.1f} s)"
    )


def policy_context() -> tuple[PolicyContext, AccessRequest]:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    agreements = tuple(
        AgreementInForce(
            f"a{i}",
            1,
            f"agency{i % 5}.dataset{i}",
            frozenset(f"f{j}" for j in range(30)),
            frozenset({"statistics", "research"}),
            "statute",
        )
        for i in range(40)
    )
    project = ProjectApproval(
        "P1",
        {"agency3.dataset38": frozenset({"f1", "f2", "f3"})},
        frozenset({"research"}),
        now + timedelta(days=30),
    )
    ctx = PolicyContext(now, agreements, {"P1": project}, frozenset({"ind.ur"}))
    req = AccessRequest(
        Subject("researcher", None, "P1", "dr"),
        "read_microdata",
        Resource("dataset", "agency3.dataset38", frozenset({"f1", "f2"})),
        "research",
    )
    return ctx, req


def bench_policy(engine: sa.Engine, n: int) -> None:
    ctx, req = policy_context()
    t = time.perf_counter()
    for _ in range(n):
        decision = decide(req, ctx)
    pure = time.perf_counter() - t
    assert decision.allowed
    m = max(n // 100, 100)
    t = time.perf_counter()
    for _ in range(m):  # one transaction per decision, as an API request makes
        with Session(engine) as s, s.begin():
            service = PolicyService(s, clock=utc_now, audit=AuditLog(s, clock=utc_now))
            service.decide(req, ctx=ctx)
    audited = time.perf_counter() - t
    print(
        f"policy decisions: pure {rate(n, pure)}; audited (decision + audit append, "
        f"a transaction each) {rate(m, audited)}, "
        f"ratio audited/pure = {pure / n / (audited / m):.4f}"
    )


def bench_check_delivery(engine: sa.Engine, settings: Settings, n: int) -> None:
    with Session(engine) as s, s.begin():
        # `agencies init`, `keys init-hub`, NIS's key and the example agreement in force
        gov = governance(s, settings, actor=ACTOR)
        gov.agencies.ensure_known(actor=ACTOR)
        gov.secrets().initialise(actor=ACTOR)
        private = Ed25519PrivateKey.generate()
        key = gov.keys.register("nis", public_pem(private.public_key()), actor=ACTOR)
        signers = {"nis": Signer(key.key_id, private), "hub": gov.secrets().hub_signing_key()}
        doc = load_yaml(EXAMPLE)
        agreement_id = activate_agreement(
            gov.agreements, doc, signers, actor=ACTOR, reason=ACTOR
        ).id
    at = datetime(2026, 3, 1, tzinfo=UTC)
    fields = frozenset({"nis_number_token", "contribution_month", "insurable_earnings_cents"})
    with Session(engine) as s:
        service = governance(s, settings, actor=ACTOR).agreements
        t = time.perf_counter()
        for _ in range(n):
            coverage = service.check_delivery("nis", "contribution", fields, agreement_id, 1, at)
        checks = time.perf_counter() - t
        assert coverage.covered, coverage
        t = time.perf_counter()
        for _ in range(n):
            s.execute(
                sa.text("SELECT state FROM agreements WHERE id = :i AND version = 1"),
                {"i": agreement_id},
            ).scalar_one()
        baseline = time.perf_counter() - t
    print(
        f"check_delivery ({n}): {rate(n, checks)}; bare primary-key SELECT {rate(n, baseline)}, "
        f"ratio check/select = {baseline / checks:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--checks", type=int, default=5000)
    args = parser.parse_args()
    name = f"lmis_bench_{uuid.uuid4().hex[:8]}"
    admin = libpq(args.server)
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(args.server).set(drivername="postgresql+psycopg", database=name)
    url_text = url.render_as_string(hide_password=False)
    settings = load_settings(
        database_url=url_text, key_encryption_key=KeyEncryptionKey.generate_b64()
    )
    try:
        engine = database(settings)  # migrated, as every CLI command finds it
        try:
            print(f"PostgreSQL {engine.dialect.server_version_info}, scratch database {name}")
            bench_appends(engine, args.appends)
            bench_policy(engine, args.decisions)
            bench_check_delivery(engine, settings, args.checks)
            bench_verify(engine, settings, url_text, args.entries)
        finally:
            engine.dispose()
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
