"""Password rules and Argon2id hashing (pure: no database)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.accounts.errors import PasswordWeak
from governance.accounts.passwords import (
    COMMON,
    MIN_LENGTH,
    check_password,
    default_hasher,
    password_problem,
    spend_verify_time,
    verify_password,
)

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
usernames = st.from_regex(r"[a-z0-9][a-z0-9._-]{2,20}", fullmatch=True)


@given(password=st.text(max_size=MIN_LENGTH - 1), username=usernames)
def test_any_password_shorter_than_the_minimum_is_refused(password: str, username: str) -> None:
    assert password_problem(password, username=username) is not None


@given(
    before=st.text(max_size=8),
    after=st.text(max_size=8),
    username=usernames,
    upper=st.booleans(),
)
def test_a_password_containing_the_user_name_is_refused(
    before: str, after: str, username: str, upper: bool
) -> None:
    password = before + (username.upper() if upper else username) + after + "x" * MIN_LENGTH
    assert password_problem(password, username=username) is not None


@given(password=st.text(min_size=1, max_size=40), username=usernames)
def test_the_reason_never_repeats_the_password(password: str, username: str) -> None:
    problem = password_problem(password, username=username)
    if problem is not None and len(password) >= 4:
        assert password not in problem


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password2024!!",
        "qwertyuiop123",
        "123456789012",
        "!!!!!!!!!!!!!!",
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "1q2w3e4r5t6y",
        "correcthorsebatterystaple",
        "Welcome2026!!",
    ],
)
def test_common_passwords_and_runs_are_refused(password: str) -> None:
    with pytest.raises(PasswordWeak) as raised:
        check_password(password, username="maria")
    assert password not in str(raised.value)
    assert raised.value.code == PasswordWeak.code


def test_every_listed_common_password_is_refused_even_decorated() -> None:
    for word in COMMON:
        for password in (word, word + "2026!!!!!!!!", "12345678" + word.upper()):
            assert password_problem(password, username="maria") is not None, password


@pytest.mark.parametrize(
    "password", ["tidal-ochre-lantern-47", "Mango season in July", "7kQ!vr2#Lp9z"]
)
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    assert password_problem(password, username="maria") is None


def test_a_password_too_long_to_hash_cheaply_is_refused() -> None:
    assert password_problem("x1y2" * 100, username="maria") is not None


@settings(max_examples=25, deadline=None)
@given(password=st.text(min_size=12, max_size=64), other=st.text(min_size=1, max_size=64))
def test_hashing_round_trips_and_tells_passwords_apart(password: str, other: str) -> None:
    stored = FAST.hash(password)
    assert stored.startswith("$argon2id$")
    assert password not in stored.split("$")[-1] + stored.split("$")[-2]
    assert verify_password(FAST, stored, password)
    assert verify_password(FAST, stored, other) == (other == password)


def test_a_malformed_hash_never_matches() -> None:
    assert not verify_password(FAST, "not-a-hash", "anything")
    assert not verify_password(FAST, "", "")


def test_the_default_hasher_is_argon2id_with_its_defaults() -> None:
    stored = default_hasher().hash("tidal-ochre-lantern-47")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not default_hasher().check_needs_rehash(stored)
    assert default_hasher().check_needs_rehash(FAST.hash("tidal-ochre-lantern-47"))


def test_spending_verify_time_does_not_fail_for_any_password() -> None:
    spend_verify_time(FAST, "anything at all")
    spend_verify_time(FAST, "")
