"""Linkage of a nation on tokens: wall time, records/s, peak memory and F1 of
``integration.linkage.link.link`` over three agencies' tokenised tables, against Splink
on the same records in the clear, in the same run.

    .venv/bin/python -m benchmarks.linkage [--persons 1000000] [--repeat 1] [--no-clear]
        [--match-weights -4,-2,0,2,4,6,8] [--workers 2] [--seed 20240101] [--json FILE]
    .venv/bin/python -m benchmarks.linkage --scaling [--sizes 100000,300000,1000000]

The input (:mod:`benchmarks.linkage_population`): NIS insured persons, job seekers and
an LFS sample with names and dates of birth, noised as the synthetic nation's agencies
noise them, tokenised by the connectors' tokeniser, cached as Parquet per size and seed
(the generation's time is printed apart).

Each linkage runs in a fresh (spawned) process: the figures are of the ``link()`` call
alone — wall and CPU time, records/s, the process's peak resident set size (``VmHWM``
after the call; the size before it, imports and input tables, is printed too) — and its
quality against the truth (:func:`integration.linkage.quality.measure`), also at other
match weights. Each phase (features, Splink's training steps, prediction, strong-token
joins, components) is timed, with the highest resident size seen while it ran.

The baseline is Splink on the same records in the clear with the clear-text model one
would write: Damerau-Levenshtein on the national ID, Splink's forename/surname
comparison (exact, swapped, Jaro-Winkler levels), its date-of-birth comparison (exact,
one character, a month, a year, ten years), sex and region; the token model's blocking
on the clear equivalents of its tokens, the same training steps, strong joins (NIS
number; national ID with date of birth) and components. The ratios tokens/clear say
what working on tokens costs. ``--scaling`` links the tokens at each size and prints the
time per record and the exponent of time against records (1 is linear, 2 quadratic).

An incremental run and the whole linkage job (bronze in, silver out) at the same sizes
are measured by :mod:`benchmarks.linkage_job`.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI
from splink.internals.linker_components.inference import LinkerInference
from splink.internals.linker_components.training import LinkerTraining

from benchmarks.linkage_population import ATTRIBUTES, CACHE, CLEAR_TEXT, ensure, load
from benchmarks.processes import MIB, Phases, in_process, status
from integration.linkage import link as link_module
from integration.linkage import model as model_module
from integration.linkage.clusters import (
    Edges,
    components,
    deterministic_edges,
    group_edges,
    model_edges,
)
from integration.linkage.features import Source
from integration.linkage.model import SEED, ModelSettings
from integration.linkage.quality import measure


def _instrument(phases: Phases) -> None:
    """Time the phases of both linkages (this process only: a spawned child)."""
    for owner, name, label in (
        (link_module, "build_features", "features: tokens to integers"),
        (model_module, "date_part_u", "training: name-tied date u"),
        (Linker, "__init__", "splink: linker set-up"),
        (LinkerTraining, "estimate_probability_two_random_records_match", "training: prior"),
        (LinkerTraining, "estimate_u_using_random_sampling", "training: u (random pairs)"),
        (LinkerTraining, "estimate_parameters_using_expectation_maximisation", "training: EM"),
        (LinkerInference, "predict", "predict: block and score"),
        (model_module, "_with_patterns", "review: agreement patterns"),
        (link_module, "deterministic_edges", "strong-token joins"),
        (link_module, "components", "components"),
    ):
        phases.wrap(owner, name, label)
    predict = LinkerInference.predict

    @functools.wraps(predict)
    def noting(self: LinkerInference, *args: Any, **kwargs: Any) -> Any:
        UNTRAINED[:] = untrained_levels(self._linker)
        return predict(self, *args, **kwargs)

    LinkerInference.predict = noting  # type: ignore[method-assign]


#: The levels of the model last used to predict that training saw no pair of.
UNTRAINED: list[str] = []


def untrained_levels(linker: Linker) -> list[str]:
    """Levels whose m or u training could not estimate (no pair of the kind among the
    training pairs): Splink then scores them with its defaults."""
    return [
        f"{c.output_column_name}: {level.label_for_charts} ({which})"
        for c in linker._settings_obj.comparisons
        for level in c.comparison_levels
        for which, trained in (("m", level._m_is_trained), ("u", level._u_is_trained))
        if not trained
    ]


# -- the clear-text baseline -------------------------------------------------------------

#: The clear model's columns: the tokens' clear values (the NIS number only joins).
CLEAR_COLUMNS = tuple(c for c in (*CLEAR_TEXT, *ATTRIBUTES) if c != "nis_number")


def clear_settings(settings: ModelSettings) -> SettingsCreator:
    """The clear-text model, blocked as the token model is (each token kind's blocking
    rule on its clear value)."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.DamerauLevenshteinAtThresholds("national_id", 1),
            cl.ForenameSurnameComparison(
                "given_name", "family_name", forename_surname_concat_col_name="name"
            ),
            cl.DateOfBirthComparison("dob", input_is_string=True).configure(
                term_frequency_adjustments=True
            ),
            cl.ExactMatch("sex"),
            cl.ExactMatch("region"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("national_id"),
            *(block_on("dob", code) for code in ("family_name_phonetic", "given_name_phonetic")),
            *(block_on(name, "birth_year") for name in ("name", "name_pair")),
            *(
                block_on("family_name_phonetic", part, "given_name_phonetic")
                for part in ("month_day", "year_month", "year_day")
            ),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        max_iterations=settings.em_iterations,
        em_convergence=0.0005,
    )


def _codes(*columns: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """One integer per distinct combination of ``columns``, and where all are present."""
    key = np.zeros(len(columns[0]), np.int64)
    present = np.ones(len(columns[0]), bool)
    for column in columns:
        encoded = pc.dictionary_encode(column.combine_chunks())
        present &= encoded.is_valid().to_numpy(zero_copy_only=False)
        codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        key = key * (len(encoded.dictionary) + 1) + codes
    return key, present


@dataclass
class Scored:
    """What a linkage scored: its labels, its model pairs and strong joins (so the
    persons can be made again at another match weight)."""

    labels: npt.NDArray[np.int64]
    edges: pa.Table
    strong: list[Edges]
    linkable: npt.NDArray[np.bool_]

    def labels_at(self, match_weight: float) -> npt.NDArray[np.int64]:
        return components(
            len(self.labels),
            [model_edges(self.edges, match_weight), *self.strong],
            linkable=self.linkable,
        )


def clear_link(
    tables: Mapping[Source, pa.Table], settings: ModelSettings, phases: Phases
) -> Scored:
    """The clear records linked (node order as :func:`link`'s)."""
    with phases.phase("features: clear table"):
        table = pa.concat_tables(list(tables.values()))
        n = table.num_rows
        persons = table.select(list(CLEAR_COLUMNS)).append_column(
            "unique_id", pa.array(np.arange(n, dtype=np.int64))
        )
        con = duckdb.connect()
        con.register("persons_input", persons)
        con.execute("CREATE TABLE persons AS SELECT * FROM persons_input").fetchall()
        con.unregister("persons_input")
    try:
        linker = Linker(
            DuckDBAPI(con).register("persons", dataset_display_name="persons"),
            clear_settings(settings),
            log_level=logging.ERROR,
        )
        have_id = float(pc.mean(pc.is_valid(table["national_id"]).cast(pa.float64())).as_py())
        train = linker.training
        train.estimate_probability_two_random_records_match(
            [block_on("national_id")], recall=min(0.99, max(have_id**2, 0.05))
        )
        train.estimate_u_using_random_sampling(max_pairs=settings.u_pairs, seed=SEED)
        for rule in (block_on("national_id"), block_on("dob", "given_name_phonetic")):
            train.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
        predicted = linker.inference.predict(threshold_match_weight=settings.review_weight)
        edges = predicted.as_duckdbpyrelation().arrow().read_all()
    finally:
        con.close()
    with phases.phase("strong-token joins"):
        strong: list[Edges] = []
        for columns in (("nis_number",), ("national_id", "dob")):
            key, present = _codes(*(table[c] for c in columns))
            nodes = np.flatnonzero(present).astype(np.int64)
            strong.append(group_edges(key[nodes], nodes))
    with phases.phase("components"):
        weights = edges["match_weight"].to_numpy(zero_copy_only=False).astype(np.float64)
        scored = model_edges(edges, settings.match_weight)
        labels = components(
            n,
            [scored, *strong],
            linkable=np.ones(n, bool),
            strengths=[weights[weights >= settings.match_weight]],
        )
    return Scored(labels, edges, strong, np.ones(n, bool))


# -- one linkage in a fresh process ------------------------------------------------------


def _linkage(folder: str, mode: str, weights: list[float]) -> dict[str, Any]:
    phases = Phases()
    _instrument(phases)
    data = load(Path(folder), clear=mode == "clear", tokens=mode == "tokens")
    rss_before = status("VmRSS")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    settings = ModelSettings()
    with phases:
        started = time.perf_counter()
        if mode == "tokens":
            linkage = link_module.link(data.tokens, settings=settings)
        else:
            scored = clear_link(data.clear, settings, phases)
        wall = time.perf_counter() - started
    peak = status("VmHWM")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    seconds: dict[str, float] = {}
    if mode == "tokens":  # the strong joins again, outside the timed call
        seconds = linkage.seconds
        strong = [deterministic_edges(linkage.features)]
        scored = Scored(linkage.labels, linkage.model.edges, strong, linkage.features.linkable())
    t = time.perf_counter()
    quality = measure(scored.labels, data.person, data.noise)
    measured = time.perf_counter() - t
    sweep = {}
    for weight in weights:
        q = measure(scored.labels_at(weight), data.person)
        sweep[str(weight)] = [round(q.precision, 6), round(q.recall, 6), round(q.f1, 6)]
    return {
        "mode": mode,
        "records": data.records,
        "seconds": round(wall, 2),
        "records_per_s": round(data.records / wall),
        "cpu_seconds": round(
            cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 1
        ),
        "rss_before_mib": rss_before // MIB,
        "peak_rss_mib": peak // MIB,
        "pairs_scored": scored.edges.num_rows,
        "link_seconds": {k: round(v, 2) for k, v in seconds.items()},
        "phases": phases.rows(),
        "untrained_levels": list(UNTRAINED),
        "quality": quality.as_dict(),
        "measure_seconds": round(measured, 1),
        "by_match_weight": sweep,
    }


def run(folder: Path, mode: str, weights: list[float]) -> dict[str, Any]:
    """One linkage (``tokens`` or ``clear``) of the cached tables in a spawned process,
    its quality also measured at each of ``weights`` as the match weight."""
    return {"mode": mode} | in_process(_linkage, str(folder), mode, weights)


def best_of(folder: Path, mode: str, repeat: int, weights: list[float]) -> dict[str, Any]:
    """The fastest of ``repeat`` runs (each in its own process)."""
    results = [run(folder, mode, weights) for _ in range(repeat)]
    failed = [r for r in results if "error" in r]
    if failed:
        return failed[0]
    best = min(results, key=lambda r: float(r["seconds"]))
    best["all_seconds"] = [r["seconds"] for r in results]
    return best


# -- printing ----------------------------------------------------------------------------


def _generation(persons: int, seed: int, cache: Path, workers: int) -> tuple[Path, list[str]]:
    started = time.perf_counter()
    made = ensure(persons, seed, cache=cache, workers=workers)
    meta = made.meta
    total = sum(meta["records"].values())
    s = meta["seconds"]
    how = (
        f"cached (made {meta['generated_at']} with {meta['workers']} processes)"
        if made.cached
        else f"{time.perf_counter() - started:.1f} s with {meta['workers']} processes"
    )
    lines = [
        f"population: {persons:,} persons (seed {seed}, names {meta['names']}) -> "
        f"{total:,} records: "
        + ", ".join(f"{source} {count:,}" for source, count in meta["records"].items()),
        f"generation: {how}: population {s['population']:.1f} s, noise and tokens "
        f"{s['noise_and_tokens']:.1f} s ({total / s['noise_and_tokens']:,.0f} records/s), "
        f"Parquet {s['write']:.1f} s",
    ]
    return made.folder, lines


def _row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {r['mode']} | failed: {r['error'].strip().splitlines()[-1]} |"
    q = r["quality"]
    return (
        f"| {r['mode']} | {r['seconds']:.1f} s | {r['records_per_s']:,} | "
        f"{r['cpu_seconds']:.0f} s | {r['peak_rss_mib']:,} MiB ({r['rss_before_mib']:,} before) | "
        f"{r['pairs_scored']:,} | {q['precision']:.4f} | {q['recall']:.4f} | **{q['f1']:.4f}** | "
        f"{q['persons_split']:,} / {q['persons_merged']:,} |"
    )


def report(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| linkage | wall | records/s | CPU | peak RSS | pairs scored | precision | recall "
        "| F1 | persons split / merged |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(r) for r in results),
    ]
    ok = {r["mode"]: r for r in results if "error" not in r}
    if {"tokens", "clear"} <= ok.keys():
        t, c = ok["tokens"], ok["clear"]
        grown = [r["peak_rss_mib"] - r["rss_before_mib"] for r in (t, c)]
        lines.append(
            f"ratio tokens/clear: time {t['seconds'] / c['seconds']:.2f}x, peak RSS "
            f"{t['peak_rss_mib'] / c['peak_rss_mib']:.2f}x (growth during the call "
            f"{grown[0] / grown[1]:.2f}x), F1 {t['quality']['f1'] / c['quality']['f1']:.4f}"
        )
    lines += _by_match_weight(list(ok.values()))
    for r in ok.values():
        parts = [f"runs {r.get('all_seconds', [])} s"]
        parts += [f"{k} {v:.1f} s" for k, v in r["link_seconds"].items()]
        lines += ["", f"{r['mode']}: " + ", ".join(parts)]
        if r["untrained_levels"]:
            lines.append(
                "  levels training saw no pair of (Splink's defaults): "
                + "; ".join(r["untrained_levels"])
            )
        lines += [
            "  phases (exclusive time, peak resident size):",
            *(
                f"  {p['phase']:<32} {p['seconds']:>8.1f} s  {p['seconds'] / r['seconds']:>4.0%}"
                f"  peak {p['peak_mib']:>6,} MiB"
                for p in r["phases"]
            ),
        ]
        errors = r["quality"]["errors_by_noise"]
        for name, counts in errors.items():
            lines.append(
                f"  {name.replace('_', ' ')}: {sum(counts.values()):,} records ("
                + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                + ")"
            )
    return lines


def _by_match_weight(results: list[dict[str, Any]]) -> list[str]:
    weights = sorted({float(w) for r in results for w in r["by_match_weight"]})
    if not weights:
        return []
    default = ModelSettings().match_weight
    lines = [
        "",
        f"precision / recall / F1 by match weight (the library's default {default:g}):",
        "| match weight | " + " | ".join(r["mode"] for r in results) + " |",
        "|---:|" + "---|" * len(results),
    ]
    for w in weights:
        cells = [r["by_match_weight"].get(str(w)) for r in results]
        lines.append(
            f"| {w:g} | "
            + " | ".join(f"{c[0]:.4f} / {c[1]:.4f} / {c[2]:.4f}" if c else "" for c in cells)
            + " |"
        )
    return lines


def exponents(sizes: list[int], records: list[int], seconds: list[float]) -> list[str]:
    """Exponent of time against records between consecutive sizes, and fitted over all."""
    lines = []
    for i in range(1, len(sizes)):
        k = math.log(seconds[i] / seconds[i - 1]) / math.log(records[i] / records[i - 1])
        lines.append(f"exponent {sizes[i - 1]:,} -> {sizes[i]:,} persons: {k:.2f}")
    if len(sizes) > 2:
        slope = np.polyfit(np.log(records), np.log(seconds), 1)[0]
        lines.append(f"exponent fitted over all sizes (least squares, log-log): {slope:.2f}")
    return lines


def scaling(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        folder, lines = _generation(size, args.seed, args.cache, args.workers)
        print("\n".join(lines), flush=True)
        results.append(best_of(folder, "tokens", args.repeat, []) | {"persons": size})
    ok = [r for r in results if "error" not in r]
    print(
        "| persons | records | link wall | µs/record | features / model / clusters "
        "| pairs scored | peak RSS | F1 |"
    )
    print("|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in ok:
        s = r["link_seconds"]
        print(
            f"| {r['persons']:,} | {r['records']:,} | {r['seconds']:.1f} s | "
            f"{r['seconds'] / r['records'] * 1e6:.0f} | "
            f"{s['features']:.1f} / {s['model']:.1f} / {s['clusters']:.1f} s | "
            f"{r['pairs_scored']:,} | {r['peak_rss_mib']:,} MiB | {r['quality']['f1']:.4f} |"
        )
    for r in results:
        if "error" in r:
            print(f"{r['persons']:,} persons failed:\n{r['error']}")
    lines = exponents(
        [r["persons"] for r in ok], [r["records"] for r in ok], [r["seconds"] for r in ok]
    )
    if len(ok) > 1:
        first, last = ok[0], ok[-1]
        span = math.log(last["records"] / first["records"])
        before = {p["phase"]: p["seconds"] for p in first["phases"]}
        lines.append(
            f"by phase, {first['persons']:,} -> {last['persons']:,} persons (exponent): "
            + "; ".join(
                f"{p['phase']} {before[p['phase']]:.2f} -> {p['seconds']:.2f} s "
                f"({math.log(p['seconds'] / before[p['phase']]) / span:.2f})"
                for p in last["phases"]
                if before.get(p["phase"], 0) > 0 and p["seconds"] > 0
            )
        )
    print("\n".join(lines))
    return {"scaling": results, "exponents": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each linkage (fastest)")
    parser.add_argument("--no-clear", action="store_true", help="skip the clear-text baseline")
    parser.add_argument("--workers", type=int, default=0, help="generation processes (cores)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated tables go")
    parser.add_argument("--scaling", action="store_true", help="token linkage at --sizes")
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument(
        "--match-weights",
        default="-4,-2,0,2,4,6,8",
        help="also measure the quality with these match weights (comma-separated)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    out: dict[str, Any]
    if args.scaling:
        out = scaling(args)
    else:
        folder, lines = _generation(args.persons, args.seed, args.cache, args.workers)
        print("\n".join(lines), flush=True)
        modes = ["tokens"] if args.no_clear else ["tokens", "clear"]
        weights = [float(w) for w in args.match_weights.split(",") if w.strip()]
        results = [best_of(folder, mode, args.repeat, weights) for mode in modes]
        print("\n".join(report(results)))
        for r in results:
            if "error" in r:
                print(f"\n{r['mode']} failed:\n{r['error']}")
        out = {"persons": args.persons, "seed": args.seed, "results": results}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
