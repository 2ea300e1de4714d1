"""Print, for every agency config, a digest of the batch ids and sealed bytes of its
first batches over a nation: `python -m tests.connectors.contract.sealed NATION URL`.

Run under another PYTHONHASHSEED by ``test_determinism``; the digests must agree."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import tempfile
from pathlib import Path

from connectors.sdk.publisher import EnvelopePublisher
from tests.connectors.agencies.deployment import agency_config_files
from tests.connectors.contract.harness import Connector, Deployment

BATCH_SIZE, BATCHES = 25, 2


class _Unused:
    def send(self, topic: str, messages: object) -> None:
        raise AssertionError("nothing is sent")


def digests(nation: Path, jobboard_url: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for path in agency_config_files():
            deployment = Deployment.of(
                path,
                nation=nation,
                data_dir=Path(scratch) / path.parent.name / path.stem,
                bootstrap="127.0.0.1:9",
                jobboard_url=jobboard_url,
                batch_size=BATCH_SIZE,
            )
            connector = Connector(deployment, "unused", _Unused())  # type: ignore[arg-type]
            digest = hashlib.sha256()
            try:
                publisher: EnvelopePublisher = connector.publisher
                for batch in itertools.islice(connector.pipeline().batches(None), BATCHES):
                    digest.update(batch.batch_id.encode())
                    for m in publisher.seal(batch):
                        digest.update(m.key + m.value)
                        digest.update(b"".join(n.encode() + v for n, v in m.headers))
            finally:
                connector.close()
            out[deployment.name] = digest.hexdigest()
    return out


def main() -> None:
    print(json.dumps(digests(Path(sys.argv[1]), sys.argv[2]), sort_keys=True))


if __name__ == "__main__":
    main()
