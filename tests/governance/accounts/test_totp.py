"""TOTP codes and recovery codes (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
from hypothesis import given
from hypothesis import strategies as st

from governance.accounts.totp import (
    RECOVERY_CODES,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    provisioning_uri,
    recovery_code_digest,
    time_step,
)

NOW = datetime(2026, 1, 5, 9, 0, 10, tzinfo=UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def at(seconds: float) -> str:
    return pyotp.TOTP(SECRET).at(NOW + timedelta(seconds=seconds))


def test_the_current_code_and_its_neighbours_are_accepted() -> None:
    step = time_step(NOW)
    assert matching_step(SECRET, at(0), at=NOW, last_step=None) == step
    assert matching_step(SECRET, at(-30), at=NOW, last_step=None) == step - 1
    assert matching_step(SECRET, at(30), at=NOW, last_step=None) == step + 1


def test_codes_two_steps_away_are_refused() -> None:
    assert matching_step(SECRET, at(-60), at=NOW, last_step=None) is None
    assert matching_step(SECRET, at(60), at=NOW, last_step=None) is None


def test_a_code_for_a_step_already_used_or_older_is_refused() -> None:
    step = time_step(NOW)
    assert matching_step(SECRET, at(0), at=NOW, last_step=step) is None
    assert matching_step(SECRET, at(-30), at=NOW, last_step=step - 1) is None
    assert matching_step(SECRET, at(30), at=NOW, last_step=step) == step + 1


def test_spaces_are_ignored_and_anything_but_six_digits_refused() -> None:
    typed = at(0)
    assert matching_step(SECRET, f" {typed[:3]} {typed[3:]} ", at=NOW, last_step=None)
    assert matching_step(SECRET, typed[:5], at=NOW, last_step=None) is None
    assert matching_step(SECRET, "abcdef", at=NOW, last_step=None) is None
    assert matching_step(SECRET, "", at=NOW, last_step=None) is None


@given(typed=st.text(max_size=12))
def test_no_typed_text_breaks_the_check(typed: str) -> None:
    result = matching_step(SECRET, typed, at=NOW, last_step=None)
    assert result is None or result in range(time_step(NOW) - 1, time_step(NOW) + 2)


def test_a_new_secret_is_base32_of_160_bits_and_its_uri_names_the_hub() -> None:
    secret = new_secret()
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert new_secret() != secret
    uri = urlparse(provisioning_uri(secret, "maria"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    query = parse_qs(uri.query)
    assert query["issuer"] == ["LMIS Hub"] and query["secret"] == [secret]
    assert "maria" in uri.path


def test_recovery_codes_are_ten_fresh_codes_of_about_79_bits() -> None:
    codes = new_recovery_codes()
    assert len(codes) == RECOVERY_CODES == len(set(codes))
    for c in codes:
        groups = c.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4]
        assert not set(c) & set("01ilo")
    assert not set(codes) & set(new_recovery_codes())


def test_a_recovery_code_matches_however_it_is_typed() -> None:
    c = new_recovery_codes(1)[0]
    assert normalise_recovery_code(c.upper().replace("-", " ")) == c.replace("-", "")
    assert recovery_code_digest(c) == recovery_code_digest(f" {c.upper()} ")
    assert recovery_code_digest(c) != recovery_code_digest(new_recovery_codes(1)[0])
    assert c.replace("-", "") not in recovery_code_digest(c)
