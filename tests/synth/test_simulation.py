"""The monthly labour-force moves keep each group's shares of E, U, P and O."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from synth.population import steady_shares
from synth.simulation import _TRANSITIONS, steady_transitions

positive = st.floats(0.001, 1.0)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, (4, 4), elements=positive), arrays(np.float64, (3, 4), elements=positive))
def test_fitted_transitions_keep_the_shares(base, shares):
    base = base / base.sum(axis=1, keepdims=True)
    shares = shares / shares.sum(axis=1, keepdims=True)
    fitted = steady_transitions(base, shares)
    assert fitted.shape == (3, 4, 4)
    assert (fitted >= -1e-12).all()
    np.testing.assert_allclose(fitted.sum(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.einsum("gi,gij->gj", shares, fitted), shares, atol=1e-12)
    # Never more movement than the base proposes.
    off = ~np.eye(4, dtype=bool)
    assert (fitted[:, off] <= base[off] + 1e-12).all()


def test_default_groups_start_at_their_steady_state():
    shares = steady_shares()
    fitted = steady_transitions(_TRANSITIONS, shares)
    np.testing.assert_allclose(np.einsum("bsi,bsij->bsj", shares, fitted), shares, atol=1e-12)
    assert (fitted[..., 0, 0] < 1).all()  # people still move
