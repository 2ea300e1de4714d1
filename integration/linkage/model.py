"""The match model: Fellegi–Sunter over token agreement, trained and scored by Splink.

Tokens only agree or disagree, so every comparison is a ladder of exact agreements on
different tokens (full name, swapped name pair, one name exact and the other phonetic,
...), each with its own m and u probability; frequent values (a common family name, a
popular date of birth) weigh less through term-frequency adjustments on the token's
frequency. Three of the date-of-birth levels agree on a family-name phonetic code tied
to two parts of the date: their chance agreement is estimated among pairs that already
share the family-name phonetic code, and fixed, so the name does not count twice.

Every blocking rule includes the key id: records of different K_link generations are
never compared.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.exceptions import EMTrainingException

from integration.linkage.errors import ModelNotConverged

log = logging.getLogger(__name__)

#: Seed of every random sample the model draws, so a run is reproducible.
SEED = 20261203


@dataclass(frozen=True)
class ModelSettings:
    """What a run may tune; the defaults are those measured in docs/benchmarks.md."""

    #: Pairs whose match weight reaches this are links.
    match_weight: float = -2.0
    #: Pairs between this and ``match_weight`` go to clerical review.
    review_weight: float = -8.0
    #: Random pairs drawn to estimate u probabilities.
    u_pairs: int = 1_000_000
    #: Pairs drawn to estimate the conditional u of the name-tied date levels.
    conditional_pairs: int = 1_000_000
    em_iterations: int = 25


def _level(condition: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"sql_condition": condition, "label_for_charts": label, **extra}


def _null(*columns: str) -> dict[str, Any]:
    test = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in columns)
    return _level(test, "missing", is_null_level=True)


def _eq(*columns: str) -> str:
    return " AND ".join(f'"{c}_l" = "{c}_r"' for c in columns)


def _tf(column: str) -> dict[str, Any]:
    return {"tf_adjustment_column": column, "tf_adjustment_weight": 1.0}


def _fixed_u(u: float) -> dict[str, Any]:
    return {"u_probability": u, "fix_u_probability": True}


#: The name-tied date levels: (label, token kind).
DATE_PARTS: tuple[tuple[str, str], ...] = (
    ("month and day, either order", "family_phonetic_month_day"),
    ("year and month", "family_phonetic_year_month"),
    ("year and day", "family_phonetic_year_day"),
)


def comparisons(date_part_u: dict[str, float]) -> list[dict[str, Any]]:
    """The comparisons of the model; ``date_part_u`` is the fixed u of each date part."""
    return [
        {
            "output_column_name": "national_id",
            "comparison_levels": [
                _null("national_id"),
                _level(_eq("national_id"), "exact"),
                _level(
                    'list_has_any("national_id_variants_l", "national_id_variants_r")',
                    "one digit apart",
                ),
                _level("ELSE", "different"),
            ],
        },
        {
            "output_column_name": "names",
            "comparison_levels": [
                _null("given_name", "family_name"),
                _level(_eq("name"), "full name exact", **_tf("name")),
                _level(_eq("name_pair"), "given and family swapped"),
                _level(
                    _eq("family_name", "given_name_phonetic"),
                    "family exact, given phonetic",
                    **_tf("family_name"),
                ),
                _level(
                    _eq("given_name", "family_name_phonetic"),
                    "given exact, family phonetic",
                    **_tf("given_name"),
                ),
                _level(_eq("family_name"), "family exact only", **_tf("family_name")),
                _level(_eq("given_name"), "given exact only", **_tf("given_name")),
                _level(_eq("given_name_phonetic", "family_name_phonetic"), "both phonetic"),
                _level("ELSE", "different"),
            ],
        },
        {
            "output_column_name": "dob",
            "comparison_levels": [
                _null("dob"),
                _level(_eq("dob"), "exact", **_tf("dob")),
                *(
                    _level(_eq(kind), label, **_fixed_u(date_part_u[kind]))
                    for label, kind in DATE_PARTS
                ),
                _level("ELSE", "different"),
            ],
        },
        {
            "output_column_name": "sex",
            "comparison_levels": [
                _null("sex"),
                _level(_eq("sex"), "same"),
                _level("ELSE", "different"),
            ],
        },
        {
            "output_column_name": "region",
            "comparison_levels": [
                _null("region"),
                _level(_eq("region"), "same"),
                _level("ELSE", "different"),
            ],
        },
    ]


def blocking_rules() -> list[Any]:
    """Pairs worth scoring: each rule is an exact agreement on an open-ended token (or a
    name with the clear birth year), always within one key generation."""
    return [
        block_on("key_id", "national_id"),
        block_on("key_id", "dob", "family_name_phonetic"),
        block_on("key_id", "dob", "given_name_phonetic"),
        block_on("key_id", "name", "birth_year"),
        block_on("key_id", "name_pair", "birth_year"),
        block_on("key_id", "family_phonetic_month_day", "given_name_phonetic"),
        block_on("key_id", "family_phonetic_year_month", "given_name_phonetic"),
        block_on("key_id", "family_phonetic_year_day", "given_name_phonetic"),
    ]


def date_part_u(con: duckdb.DuckDBPyConnection, table: str, pairs: int) -> dict[str, float]:
    """u of each name-tied date level among random pairs that share the family-name
    phonetic code (and not the full date), as the model evaluates the levels in order."""
    sample = max(1000, int(math.sqrt(pairs) * 40))
    row = con.execute(
        f"""
        WITH s AS (SELECT * FROM {table} WHERE dob IS NOT NULL
                   USING SAMPLE reservoir({sample} ROWS) REPEATABLE ({SEED})),
        p AS (SELECT l.dob <> r.dob AS differ,
                     l.family_phonetic_month_day = r.family_phonetic_month_day AS md,
                     l.family_phonetic_year_month = r.family_phonetic_year_month AS ym,
                     l.family_phonetic_year_day = r.family_phonetic_year_day AS yd
              FROM s l JOIN s r ON l.family_name_phonetic = r.family_name_phonetic
               AND l.key_id = r.key_id AND l.unique_id < r.unique_id
              LIMIT {pairs})
        SELECT count(*),
               count(*) FILTER (WHERE differ AND md),
               count(*) FILTER (WHERE differ AND NOT md AND ym),
               count(*) FILTER (WHERE differ AND NOT md AND NOT ym AND yd)
        FROM p
        """
    ).fetchall()[0]
    assert row is not None
    total = max(int(row[0]), 1)
    # At least one agreement in the sample's size, so no level gets an infinite weight.
    floor = 1.0 / (total + 1)
    return {kind: max(int(row[i + 1]) / total, floor) for i, (_, kind) in enumerate(DATE_PARTS)}


@dataclass
class TrainedModel:
    """The trained parameters and the scored pairs of one run."""

    parameters: list[dict[str, Any]]
    prior: float
    date_part_u: dict[str, float]
    pairs_scored: int
    #: unique_id_l, unique_id_r, match_weight, match_probability of every scored pair.
    edges: pa.Table
    #: The pairs below the match weight, with the level each comparison reached.
    review: pa.Table
    #: Splink's model (settings with the trained m and u), to score a later run with.
    splink: dict[str, Any] = field(default_factory=dict)
    #: False when the parameters came from an earlier run.
    retrained: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


def _untrained(level: Any) -> list[str]:
    """Which of the level's probabilities (m, u) no training step estimated at all, not
    even to find that no pair reached the level: Splink would score them with its
    defaults. A fixed probability counts as given."""
    return [
        which
        for which, estimates, fixed in (
            ("m", level._trained_m_probabilities, level._fix_m_probability),
            ("u", level._trained_u_probabilities, level._fix_u_probability),
        )
        if not fixed and not estimates
    ]


def _parameters(linker: Linker, *, trained_here: bool) -> list[dict[str, Any]]:
    """Each level's m, u and weight, and whether training estimated m and u
    (``m_trained``, ``u_trained``: False where no training pair reached the level, so
    Splink keeps its default, or an earlier run's model had none for it).

    Raises :class:`ModelNotConverged` when a probability is missing or outside (0, 1],
    or (``trained_here``: the model was trained on this run's records, not loaded) when
    no training step estimated a level's m or u at all."""
    out = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            where = f"{comparison.output_column_name}/{level.label_for_charts}"
            never = _untrained(level) if trained_here else []
            if never:
                raise ModelNotConverged(
                    f"{where}: no training step estimated its {' or '.join(never)} "
                    "(Splink would score it with its default)"
                )
            m, u = level.m_probability, level.u_probability
            if m is None or u is None or not (0 < m <= 1 and 0 < u <= 1):
                raise ModelNotConverged(
                    f"{where}: m={m!r}, u={u!r} (no pairs to learn this level from)"
                )
            out.append(
                {
                    "comparison": comparison.output_column_name,
                    "level": level.label_for_charts,
                    "m": m,
                    "u": u,
                    "weight": math.log2(m / u),
                    "m_trained": bool(level._m_is_trained),
                    "u_trained": bool(level._u_is_trained),
                }
            )
    return out


def _train(
    con: duckdb.DuckDBPyConnection, frame: Any, settings: ModelSettings
) -> tuple[Linker, dict[str, float]]:
    """A linker on ``frame`` with the model trained on it, and the fixed date-part u."""
    date_u = date_part_u(con, "persons", settings.conditional_pairs)
    as_splink: list[ComparisonCreator | dict[str, Any]] = [*comparisons(date_u)]
    splink_settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=as_splink,
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        max_iterations=settings.em_iterations,
        em_convergence=0.0005,
    )
    linker = Linker(frame, splink_settings, log_level=logging.ERROR)
    have_id = _share_valid(con, "national_id")
    if have_id == 0:
        raise ModelNotConverged("no person record carries a national ID token to anchor the model")
    # Two records of one person both carry the ID about have_id^2 of the time.
    linker.training.estimate_probability_two_random_records_match(
        [block_on("key_id", "national_id")], recall=min(0.99, max(have_id**2, 0.05))
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=settings.u_pairs, seed=SEED)
    try:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("key_id", "national_id"), estimate_without_term_frequencies=True
        )
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("key_id", "dob", "given_name_phonetic"),
            estimate_without_term_frequencies=True,
        )
    except (EMTrainingException, ValueError, ZeroDivisionError, duckdb.Error) as exc:
        raise ModelNotConverged(f"training failed: {exc}") from exc
    return linker, date_u


#: Columns whose term frequencies the model adjusts on.
TF_COLUMNS = ("name", "family_name", "given_name", "dob")


def _score_new(
    con: duckdb.DuckDBPyConnection,
    db: DuckDBAPI,
    linker: Linker,
    new: npt.NDArray[np.int64],
    threshold: float,
) -> pa.Table:
    """Pairs with at least one new record: new against existing, and within the new;
    term frequencies come from every record."""
    if len(new) == 0:
        return _pair_columns(
            pa.table(
                {
                    "unique_id_l": pa.array([], pa.int64()),
                    "unique_id_r": pa.array([], pa.int64()),
                    "match_weight": pa.array([], pa.float64()),
                    "match_probability": pa.array([], pa.float64()),
                }
            )
        )
    for column in TF_COLUMNS:
        linker.table_management.compute_tf_table(column)
    con.register("new_ids", pa.table({"unique_id": pa.array(new, pa.int64())}))
    con.execute(
        "CREATE TABLE persons_new AS SELECT p.* FROM persons p JOIN new_ids USING (unique_id)"
    ).fetchall()
    con.execute(
        "CREATE TABLE persons_old AS SELECT p.* FROM persons p ANTI JOIN new_ids USING (unique_id)"
    ).fetchall()
    con.unregister("new_ids")
    new_frame = db.register("persons_new", dataset_display_name="persons_new")
    old_frame = db.register("persons_old", dataset_display_name="persons_old")
    between = linker.inference.predict_between(
        new_frame, old_frame, threshold_match_weight=threshold, warning_mode="never"
    )
    within = linker.inference.predict_within(
        new_frame, threshold_match_weight=threshold, warning_mode="never"
    )
    return pa.concat_tables(
        [
            _pair_columns(between.as_duckdbpyrelation().arrow().read_all()),
            _pair_columns(within.as_duckdbpyrelation().arrow().read_all()),
        ]
    )


def _pair_columns(edges: pa.Table) -> pa.Table:
    return edges.select(["unique_id_l", "unique_id_r", "match_weight", "match_probability"]).cast(
        pa.schema(
            [
                ("unique_id_l", pa.int64()),
                ("unique_id_r", pa.int64()),
                ("match_weight", pa.float64()),
                ("match_probability", pa.float64()),
            ]
        )
    )


def train_and_score(
    persons: pa.Table,
    settings: ModelSettings,
    *,
    trained: dict[str, Any] | None = None,
    new: npt.NDArray[np.int64] | None = None,
) -> TrainedModel:
    """Score the blocked pairs of ``persons`` (see :mod:`integration.linkage.features`)
    whose weight reaches ``settings.review_weight``: with the model trained on them, or
    with ``trained`` (a previous run's :attr:`TrainedModel.splink`, not trained again);
    only pairs with a record of ``new`` (unique ids) when it is given."""
    if persons.num_rows < 2:
        raise ModelNotConverged(f"{persons.num_rows} person record(s): nothing to compare")
    con = duckdb.connect()
    try:
        con.register("persons_input", persons)
        con.execute("CREATE TABLE persons AS SELECT * FROM persons_input").fetchall()
        con.unregister("persons_input")
        db = DuckDBAPI(con)
        frame = db.register("persons", dataset_display_name="persons")
        if trained is None:
            linker, date_u = _train(con, frame, settings)
        else:
            linker = Linker(frame, trained["splink"], log_level=logging.ERROR)
            date_u = dict(trained["date_part_u"])
        parameters = _parameters(linker, trained_here=trained is None)
        prior = float(linker._settings_obj._probability_two_random_records_match)
        if new is None:
            predicted = linker.inference.predict(threshold_match_weight=settings.review_weight)
            edges = _pair_columns(predicted.as_duckdbpyrelation().arrow().read_all())
        else:
            edges = _score_new(con, db, linker, new, settings.review_weight)
        review = _with_patterns(
            con,
            edges.filter(pc.less(edges["match_weight"], settings.match_weight)),
            comparisons(date_u),
        )
        return TrainedModel(
            parameters=parameters,
            prior=prior,
            date_part_u=date_u,
            pairs_scored=edges.num_rows,
            edges=edges,
            review=review,
            splink=linker.misc.save_model_to_json(),
            retrained=trained is None,
            settings={
                "match_weight": settings.match_weight,
                "review_weight": settings.review_weight,
                "u_pairs": settings.u_pairs,
                "blocking_rules": [
                    r.get_blocking_rule("duckdb").blocking_rule_sql for r in blocking_rules()
                ],
            },
        )
    finally:
        con.close()


def _with_patterns(
    con: duckdb.DuckDBPyConnection, pairs: pa.Table, model: list[dict[str, Any]]
) -> pa.Table:
    """``pairs`` with one column per comparison: the label of the level the pair reached
    (the agreement pattern a reviewer sees; it names token agreements, never values)."""
    cases = []
    for comparison in model:
        whens = " ".join(
            f"WHEN {level['sql_condition']} THEN '{level['label_for_charts']}'"
            for level in comparison["comparison_levels"]
            if level["sql_condition"] != "ELSE"
        )
        cases.append(f"CASE {whens} ELSE 'different' END AS \"{comparison['output_column_name']}\"")
    columns = sorted({c for c in _person_columns(con)})
    left = ", ".join(f'l."{c}" AS "{c}_l"' for c in columns)
    right = ", ".join(f'r."{c}" AS "{c}_r"' for c in columns)
    con.register("review_pairs", pairs)
    try:
        return (
            con.sql(
                f"""
            SELECT p.*, {", ".join(cases)}
            FROM (SELECT p.*, {left}, {right} FROM review_pairs p
                  JOIN persons l ON l.unique_id = p.unique_id_l
                  JOIN persons r ON r.unique_id = p.unique_id_r) p
            """
            )
            .to_arrow_table()
            .select([*pairs.column_names, *(c["output_column_name"] for c in model)])
        )
    finally:
        con.unregister("review_pairs")


def _person_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("DESCRIBE persons").fetchall() if row[0] != "unique_id"]


def _share_valid(con: duckdb.DuckDBPyConnection, column: str) -> float:
    row = con.execute(f"SELECT avg(({column} IS NOT NULL)::DOUBLE) FROM persons").fetchall()[0]
    value = row[0] if row else None
    return float(value) if value is not None and not np.isnan(value) else 0.0
