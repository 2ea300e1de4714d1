"""Agreement documents for tests, built from the example with overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from governance.agreements.document import AgreementDocument, parse_document

#: Illustrative terms (no schema behind them) for the lifecycle tests.
EXAMPLE = Path(__file__).parent / "illustrative.yaml"


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def make_doc(**overrides: Any) -> AgreementDocument:
    return parse_document(example_data() | overrides, where="test")
