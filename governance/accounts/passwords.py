"""Passwords: the rules a new password must meet, and Argon2id hashing.

The rules follow NIST SP 800-63B rather than composition rules: long enough, not the
user name, not one of the passwords attackers try first. Hashing is argon2-cffi's
:class:`~argon2.PasswordHasher` with its defaults (Argon2id); a hash made with weaker
parameters is replaced at the next successful sign-in.
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from governance.accounts.errors import PasswordWeak

MIN_LENGTH = 12
#: Longer passwords are refused so that hashing one cannot be used to load the hub.
MAX_LENGTH = 256

#: Passwords (and the words of passwords) that lists of leaked passwords put first; a
#: password that is one of these, or one of these with digits and symbols around it,
#: is refused.
COMMON = frozenset(
    {
        "password",
        "passw0rd",
        "p@ssw0rd",
        "qwerty",
        "qwertyuiop",
        "qwertyuiopasdfghjkl",
        "asdfghjkl",
        "zxcvbnm",
        "azerty",
        "letmein",
        "welcome",
        "iloveyou",
        "admin",
        "administrator",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "trustno",
        "superman",
        "starwars",
        "master",
        "changeme",
        "secret",
        "abc",
        "abcdef",
        "abcdefghijkl",
        "correcthorsebatterystaple",
        "lmishub",
        "lmis",
    }
)
_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyz",
    "1q2w3e4r5t6y7u8i9o0p",
)


def password_problem(password: str, *, username: str) -> str | None:
    """Why ``password`` may not be used by ``username`` (None: it may). The reason never
    repeats the password."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if username and username.lower() in lowered:
        return "a password may not contain the user name"
    if len(set(lowered)) == 1:
        return "a password may not repeat one character"
    core = lowered.strip("0123456789!@#$%^&*()-_=+.,;:?~ ")
    if lowered in COMMON or core in COMMON or not core:
        return "this password is among the most common ones; choose another"
    if any(lowered in sequence or sequence.startswith(lowered) for sequence in _SEQUENCES):
        return "a password may not be a run of keys or letters"
    return None


def check_password(password: str, *, username: str) -> None:
    """Refuse a password that breaks a rule, with :class:`PasswordWeak`."""
    problem = password_problem(password, username=username)
    if problem is not None:
        raise PasswordWeak(problem)


def default_hasher() -> PasswordHasher:
    """Argon2id with argon2-cffi's default parameters (RFC 9106's low-memory profile)."""
    return PasswordHasher()


def verify_password(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; a malformed hash never matches."""
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return hasher.hash(secrets.token_urlsafe(16))


def spend_verify_time(hasher: PasswordHasher, password: str) -> None:
    """Verify ``password`` against a dummy hash: a sign-in as an unknown user then takes
    as long as one with a wrong password, so its timing does not tell that the user
    does not exist."""
    dummy = _dummy_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    verify_password(hasher, dummy, password)
