"""The lake's Iceberg catalog: pyiceberg's SqlCatalog inside the hub database.

Table metadata lives in the hub database (SQLite or PostgreSQL, the same one as the
agreements and the audit log); data files live in the warehouse: a local folder by
default, or S3-compatible storage when ``HUB_LAKE__WAREHOUSE`` is an ``s3://`` URL.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy.exc import SQLAlchemyError

from governance.db import normalise_url
from integration.lake.errors import LakeUnavailable
from lmis_hub.settings import LakeSettings

CATALOG_NAME = "lmis"
NAMESPACES = ("bronze", "silver", "gold")
#: Attempts at opening the catalog (between 1.5 and 3 s of waiting in all).
OPEN_ATTEMPTS = 6

log = logging.getLogger(__name__)


def warehouse_uri(warehouse: str) -> str:
    """A warehouse location pyiceberg understands (local folders become file:// URIs)."""
    if "://" in warehouse:
        return warehouse
    path = Path(warehouse).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def open_catalog(
    *, database_url: str, warehouse: str, lake: LakeSettings | None = None
) -> SqlCatalog:
    """Open (and on first use create) the catalog and its namespaces; a database that
    cannot be opened raises :class:`LakeUnavailable` (``lake.unavailable``)."""
    properties = {
        "uri": normalise_url(database_url),
        "warehouse": warehouse_uri(warehouse),
        "init_catalog_tables": "true",
    }
    if lake is not None:
        if lake.s3_endpoint:
            properties["s3.endpoint"] = lake.s3_endpoint
        if lake.s3_access_key_id:
            properties["s3.access-key-id"] = lake.s3_access_key_id
        if lake.s3_secret_access_key is not None:
            properties["s3.secret-access-key"] = lake.s3_secret_access_key.get_secret_value()
        if lake.s3_region:
            properties["s3.region"] = lake.s3_region
    # Processes that start together on a new hub database (two ingest workers of one
    # group, the API) race to create the catalog tables and namespaces; the loser sees
    # an IntegrityError, "table already exists" or a locked SQLite file. Opening again
    # then finds them made.
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            return _open(properties)
        except SQLAlchemyError as exc:
            if attempt == OPEN_ATTEMPTS:
                raise LakeUnavailable(
                    f"the lake catalog could not be opened: {type(exc).__name__}"
                ) from exc
            delay = 0.05 * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311 (jitter)
            log.info(
                "opening the lake catalog failed (%s, attempt %d of %d); again in %.2f s",
                type(exc).__name__,
                attempt,
                OPEN_ATTEMPTS,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _open(properties: dict[str, str]) -> SqlCatalog:
    catalog = SqlCatalog(CATALOG_NAME, **properties)
    try:
        for namespace in NAMESPACES:
            catalog.create_namespace_if_not_exists(namespace)
    except BaseException:
        catalog.engine.dispose()
        raise
    return catalog
