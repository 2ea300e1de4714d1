"""The second factor: TOTP (RFC 6238) codes and one-time recovery codes.

A code is accepted for the current 30-second time step or the one before or after it
(clock drift), and only for a step later than the last accepted one, so a code seen
over someone's shoulder or replayed from a log cannot be used again. Recovery codes
are 16 random characters (about 79 bits), so storing their SHA-256 is enough.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp

from governance.accounts.tokens import digest

ISSUER = "LMIS Hub"
STEP_SECONDS = 30
DIGITS = 6
#: Time steps accepted either side of the current one.
WINDOW = 1

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_GROUPS, _RECOVERY_GROUP_LENGTH = 4, 4


def new_secret() -> str:
    """A fresh TOTP secret: 160 random bits, base32 (what authenticator apps take)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def time_step(at: datetime) -> int:
    """The TOTP time step (counter) that ``at`` falls in."""
    return int(at.timestamp()) // STEP_SECONDS


def code_at_step(secret: str, step: int) -> str:
    """The code for one time step."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def normalise_code(code: str) -> str:
    """A code as typed, without spaces (apps show ``123 456``)."""
    return "".join(code.split())


def matching_step(
    secret: str, code: str, *, at: datetime, last_step: int | None, window: int = WINDOW
) -> int | None:
    """The time step ``code`` is valid for, near ``at`` and after ``last_step``; None
    when it is wrong, too old or already used."""
    typed = normalise_code(code)
    if len(typed) != DIGITS or not typed.isdigit():
        return None
    now = time_step(at)
    found = None
    for step in range(now - window, now + window + 1):
        # Every candidate is compared, so the time taken does not tell which one matched.
        if hmac.compare_digest(code_at_step(secret, step), typed) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Fresh one-time recovery codes, shown once, e.g. ``k7cm-x2qa-9fhd-tr4e``."""
    return [
        "-".join(
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LENGTH))
            for _ in range(_RECOVERY_GROUPS)
        )
        for _ in range(count)
    ]


def normalise_recovery_code(code: str) -> str:
    """A recovery code as typed, lower-case, without dashes or spaces."""
    return "".join(c for c in code.lower() if c.isalnum())


def recovery_code_digest(code: str) -> str:
    """The SHA-256 kept for a recovery code (of its normalised form)."""
    return digest(normalise_recovery_code(code))
