"""The error vocabulary: stable, unique codes and one envelope."""

from __future__ import annotations

import pytest

from lmis_hub.errors import ConfigurationError, HubError, registered_codes


def test_envelope_carries_code_and_message() -> None:
    err = ConfigurationError("HUB_X: bad")
    assert err.to_dict() == {"error": {"code": "config.invalid", "message": "HUB_X: bad"}}
    assert str(err) == "[config.invalid] HUB_X: bad"


def test_codes_are_registered_and_unique() -> None:
    codes = registered_codes()
    assert codes["config.invalid"] is ConfigurationError
    assert all(code == cls.code for code, cls in codes.items())


def test_a_duplicate_code_fails_at_definition() -> None:
    with pytest.raises(TypeError, match=r"config\.invalid"):

        class Clash(HubError):
            """Reuses a code."""

            code = "config.invalid"
