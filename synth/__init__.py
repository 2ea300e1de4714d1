"""The synthetic nation: a population and its agencies' source systems, with ground truth.

Entry points: :func:`synth.nation.make` and :func:`synth.nation.extend` (what
``lmis-hub synth make`` / ``extend`` call), :func:`synth.simulation.simulate` for the
in-memory nation, :mod:`synth.national_id` (``is_valid``, ``validate``),
:func:`synth.jobboard_api.serve` for the job board's HTTP API, and
:func:`synth.agencies.sql.dump` to compare agency databases.
"""
