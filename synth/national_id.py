"""National identity numbers of the synthetic nation.

Scheme: 11 digits. Digits 1-10 are a serial number drawn without replacement from
``1_000_000_000 .. 9_999_999_999`` (so the first digit is never 0 and numbers do not
reveal the date of birth); digit 11 is a Luhn (mod 10) check digit over the first ten.
The Luhn check catches every single-digit error and every transposition of two
adjacent digits except ``09`` <-> ``90``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from synth.errors import InvalidNationalId

LENGTH = 11
_SERIAL_LOW = 1_000_000_000
_SERIAL_HIGH = 10_000_000_000


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that makes ``body + digit`` valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def is_valid(value: str) -> bool:
    """True when ``value`` is 11 digits whose last digit is the Luhn digit of the first ten."""
    if len(value) != LENGTH or not value.isascii() or not value.isdigit() or value[0] == "0":
        return False
    return luhn_check_digit(value[:-1]) == int(value[-1])


def validate(value: str) -> str:
    """Return ``value`` if it is a valid national ID, else raise :class:`InvalidNationalId`."""
    if not is_valid(value):
        raise InvalidNationalId(f"national ID {value!r}: not 11 digits with a valid check digit")
    return value


def _luhn_digits(serials: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    total = np.zeros(serials.shape, dtype=np.int64)
    rest = serials.copy()
    for i in range(LENGTH - 1):
        d = rest % 10
        rest //= 10
        if i % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return (10 - total % 10) % 10


def generate(rng: np.random.Generator, count: int) -> npt.NDArray[np.str_]:
    """``count`` distinct valid national IDs (vectorised)."""
    serials = np.empty(0, dtype=np.int64)
    while serials.size < count:
        extra = rng.integers(_SERIAL_LOW, _SERIAL_HIGH, size=int((count - serials.size) * 1.05) + 8)
        serials = np.concatenate([serials, extra])
        _, first = np.unique(serials, return_index=True)
        serials = serials[np.sort(first)]
    serials = serials[:count]
    numbers = serials * 10 + _luhn_digits(serials)
    return numbers.astype("U11")
