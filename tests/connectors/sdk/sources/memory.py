"""Peak memory of reading a source, measured in a fresh interpreter (no tracer overhead)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = """
import json, resource, sys
from connectors.sdk.config import parse_config  # noqa: F401  (import everything first)
from connectors.sdk.sources.base import load_source
from connectors.sdk.sources.csv import CsvSourceConfig
from connectors.sdk.sources.sql import SqlSourceConfig
from pydantic import TypeAdapter
cfg = TypeAdapter(CsvSourceConfig | SqlSourceConfig).validate_python(json.loads(sys.argv[1]))
source = load_source(cfg)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = sum(len(chunk) for chunk in source.read())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"count": count, "growth_kib": after - before}))
"""


def read_all_in_subprocess(config: dict[str, object]) -> tuple[int, int]:
    """(rows read, growth of the peak resident set in KiB while reading)."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), json.dumps(config)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = json.loads(out.strip().splitlines()[-1])
    return int(doc["count"]), int(doc["growth_kib"])
