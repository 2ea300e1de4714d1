"""What every connector run shares, built one way for the CLI, the demo and the benchmarks.

A :class:`ConnectorKit` holds what does not depend on one config — the code lists, the
connector's secrets (``HUB_CONNECTOR__*``), the envelope limits — and builds, for a
config, the pieces a run is made of: the linkage key, the signer, the pipeline, the
publisher and the mapper. The hub's composition root (``hub_api.wiring``) makes one
from the settings; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sdk.config import ConnectorConfig
from connectors.sdk.errors import ConnectorConfigInvalid
from connectors.sdk.linkkey import LinkKey, resolve_link_key
from connectors.sdk.mapping import Mapper
from connectors.sdk.pipeline import Pipeline
from connectors.sdk.publisher import EnvelopePublisher, load_signer
from connectors.sdk.sources.base import Source
from connectors.sdk.state import StateDB
from connectors.sdk.tokenise import RecordIds
from lmis_hub.settings import ConnectorSettings
from schemas.codelists import CodeLists
from schemas.signing import Signer


def _now() -> datetime:
    return datetime.now(UTC)


def packaged_code_lists() -> dict[str, frozenset[str]]:
    """Every packaged code list by its name (``region``, ``isco08``…), as validation
    rules name them (``code_list: region``)."""
    lists = CodeLists.packaged()
    return {name: frozenset(lists[name].labels) for name in lists}


@dataclass(frozen=True)
class ConnectorKit:
    """The shared parts of connector runs, and the factory of each run's pieces."""

    secrets: ConnectorSettings
    max_message_bytes: int
    max_skew: timedelta = timedelta(minutes=5)
    code_lists: Mapping[str, frozenset[str]] = field(default_factory=packaged_code_lists)
    clock: Callable[[], datetime] = _now
    #: A linkage key given as it is (the demo's, a benchmark's) instead of the secrets'.
    fixed_link_key: LinkKey | None = None

    @property
    def regions(self) -> frozenset[str]:
        return self.code_lists["region"]

    def link_key(self, config: ConnectorConfig) -> LinkKey:
        """K_link: from ``HUB_CONNECTOR__LINK_KEY`` when set, else the config's key file."""
        if self.fixed_link_key is not None:
            return self.fixed_link_key
        return resolve_link_key(
            key_file=config.tokenise.link_key_file,
            passphrase=self.secrets.link_key_passphrase,
            key=self.secrets.link_key,
            key_id=self.secrets.link_key_id,
        )

    def signer(self, config: ConnectorConfig) -> Signer:
        """The agency's signer from the config's ``signing_key_file``."""
        if config.signing_key_file is None:
            raise ConnectorConfigInvalid("signing_key_file: required to publish")
        return load_signer(
            config.signing_key_file, self.secrets.signing_key_passphrase, agency=config.agency
        )

    def pipeline(
        self,
        config: ConnectorConfig,
        state: StateDB,
        *,
        source: Source | None = None,
        link_key: LinkKey | None = None,
    ) -> Pipeline:
        return Pipeline.from_config(
            config,
            state=state,
            link_key=link_key or self.link_key(config),
            clock=self.clock,
            code_lists=dict(self.code_lists),
            regions=self.regions,
            source=source,
        )

    def publisher(
        self, config: ConnectorConfig, state: StateDB, sender: Any, signer: Signer
    ) -> EnvelopePublisher:
        schema = config.schema_version()
        return EnvelopePublisher(
            schema=schema,
            topic=schema.topic,
            agreement_id=config.agreement_id or "",
            agreement_version=config.agreement_version,
            signer=signer,
            state=state,
            sender=sender,
            clock=self.clock,
            max_message_bytes=self.max_message_bytes,
        )

    def mapper(self, config: ConnectorConfig) -> Mapper:
        """The config's mapper with its record-id key (e.g. to find rows by record id)."""
        return Mapper(
            config.mapping,
            record_ids=RecordIds(
                self.link_key(config), agency=config.agency, dataset=config.dataset
            ),
        )
