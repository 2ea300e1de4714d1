"""Month-by-month life of the nation: labour-force moves, jobs, training, job search,
labour cases — and the records each agency writes about them.

Split by agency, as :mod:`synth.agencies` is: :mod:`~synth.simulation.core` runs the
months (state, jobs, identities) and hands each one to the agencies' writers,
:mod:`~synth.simulation.nis`, :mod:`~synth.simulation.tvet`,
:mod:`~synth.simulation.jobboard` and :mod:`~synth.simulation.dol`; the labour-force
moves are fitted in :mod:`~synth.simulation.transitions`, and what a run hands on is in
:mod:`~synth.simulation.results`.
"""

from synth.population import OUTSIDE
from synth.simulation.core import Simulation, simulate
from synth.simulation.dol import DISPUTE_RATE
from synth.simulation.nis import CONTRIBUTION_COLUMNS
from synth.simulation.results import SPELL_COLUMNS, Nation, Truth
from synth.simulation.transitions import _TRANSITIONS as _TRANSITIONS
from synth.simulation.transitions import steady_transitions
from synth.simulation.tvet import PROGRAMMES

__all__ = [
    "CONTRIBUTION_COLUMNS",
    "DISPUTE_RATE",
    "OUTSIDE",
    "PROGRAMMES",
    "SPELL_COLUMNS",
    "Nation",
    "Simulation",
    "Truth",
    "simulate",
    "steady_transitions",
]
