import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synth import national_id
from synth.errors import InvalidNationalId


def test_generated_ids_are_distinct_and_valid():
    ids = national_id.generate(np.random.default_rng(7), 20_000)
    assert len(set(ids.tolist())) == 20_000
    assert all(national_id.is_valid(str(i)) for i in ids[:2000])


@given(
    seed=st.integers(0, 2**32 - 1),
    position=st.integers(0, 10),
    delta=st.integers(1, 9),
)
def test_check_digit_catches_every_single_digit_error(seed, position, delta):
    value = str(national_id.generate(np.random.default_rng(seed), 1)[0])
    wrong = list(value)
    wrong[position] = str((int(wrong[position]) + delta) % 10)
    assert national_id.is_valid(value)
    assert not national_id.is_valid("".join(wrong))


def test_validate_names_the_bad_value():
    with pytest.raises(InvalidNationalId, match="12345"):
        national_id.validate("12345")
