from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.catalog import SchemaCatalog
from schemas.signing import Signer

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


@pytest.fixture(scope="session")
def signer() -> Signer:
    seed = bytes(range(32))
    return Signer("nso-2026-1", Ed25519PrivateKey.from_private_bytes(seed))
