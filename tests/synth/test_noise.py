from datetime import date

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from synth import noise
from synth.config import AgencyNoise

names = st.text(
    alphabet=st.characters(min_codepoint=65, max_codepoint=122), min_size=0, max_size=20
)


@given(value=names, seed=st.integers(0, 2**32 - 1))
def test_typo_always_changes_the_name_by_about_one_character(value, seed):
    out = noise.typo(np.random.default_rng(seed), value)
    assert out != value
    assert abs(len(out) - len(value)) <= 1


@given(seed=st.integers(0, 2**32 - 1), day=st.integers(1, 28), month=st.integers(1, 12))
def test_identity_without_noise_is_the_truth(seed, day, month):
    clean = AgencyNoise(
        typo=0,
        nickname=0,
        name_variant=0,
        dob_swap=0,
        missing_national_id=0,
        duplicate=0,
        late_correction=1,
    )
    dob = date(1990, month, day)
    out = noise.identity(
        np.random.default_rng(seed),
        clean,
        national_id="12345678903",
        given_name="Michael",
        family_name="De Freitas",
        date_of_birth=dob,
    )
    assert (out.national_id, out.given_name, out.family_name, out.date_of_birth) == (
        "12345678903",
        "Michael",
        "De Freitas",
        dob,
    )
    assert out.applied == [] and out.correct_after == 0


@given(seed=st.integers(0, 2**32 - 1), day=st.integers(1, 12), month=st.integers(1, 12))
def test_dob_swap_transposes_day_and_month(seed, day, month):
    always = AgencyNoise(typo=0, nickname=0, name_variant=0, dob_swap=1, missing_national_id=0)
    dob = date(1990, month, day)
    out = noise.identity(
        np.random.default_rng(seed),
        always,
        national_id="1",
        given_name="A",
        family_name="B",
        date_of_birth=dob,
    )
    if day == month:
        assert out.date_of_birth == dob
    else:
        assert out.date_of_birth == date(1990, day, month)
        assert noise.DOB_SWAP in out.applied


def test_name_variant_is_another_spelling():
    rng = np.random.default_rng(0)
    assert noise.name_variant(rng, "Mohammed") in {"Mohamed", "Muhammad", "Mohammad"}
    assert noise.name_variant(rng, "De Freitas") == "DeFreitas"
    assert noise.name_variant(rng, "Joseph") == "JOSEPH"
