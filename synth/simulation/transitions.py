"""Monthly labour-force moves between employed, unemployed, potential labour force and
outside the labour force (E, U, P, O), fitted to each group's steady state."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Monthly transition probabilities between E, U, P, O before they are fitted to each
# group's steady state (see :func:`steady_transitions`).
_TRANSITIONS = np.array(
    [
        [0.976, 0.012, 0.003, 0.009],
        [0.140, 0.770, 0.045, 0.045],
        [0.050, 0.090, 0.800, 0.060],
        [0.010, 0.008, 0.007, 0.975],
    ]
)


def steady_transitions(
    base: npt.NDArray[np.float64], shares: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Monthly transition matrices, one per row of ``shares`` (any leading shape), each
    as close to ``base`` as detailed balance allows with that row as its steady state.

    Metropolis-Hastings with ``base`` as the proposal: the flow i -> j is
    ``min(pi_i T_ij, pi_j T_ji)`` both ways, so drawing the starting statuses from the
    shares and moving people month by month keeps the shares (no drift of the
    unemployment rate over the period other than from training, job search and ageing).
    """
    pi = shares[..., :, None]
    flow = np.minimum(pi * base, np.swapaxes(pi * base, -1, -2))
    out = np.where(pi > 0, flow / np.where(pi > 0, pi, 1), 0.0)
    diagonal = np.arange(base.shape[0])
    out[..., diagonal, diagonal] = 0.0
    out[..., diagonal, diagonal] = 1.0 - out.sum(axis=-1)
    return out
