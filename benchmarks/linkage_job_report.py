"""The tables :mod:`benchmarks.linkage_job` prints: the incremental runs against a
full re-link, and the job's runs step by step against the link() call alone."""

from __future__ import annotations

from typing import Any


def _cells(r: dict[str, Any]) -> str:
    return (
        f"{r['seconds']:.1f} s | {r['cpu_seconds']:.0f} s | {r['peak_rss_mib']:,} MiB "
        f"({r['rss_before_mib']:,} before) | {r['pairs_scored']:,}"
    )


def incremental_report(out: dict[str, Any]) -> list[str]:
    full = out["full"]
    if "error" in full:
        return [f"full re-link failed:\n{full['error']}"]
    lines = [
        "| run | records | new records | wall | CPU | peak RSS | pairs scored | F1 (truth) "
        "| F1 against the full re-link | same person as the full re-link: all (new) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| full re-link | {full['records']:,} | | {_cells(full)} | "
        f"{full['quality']['f1']:.4f} | | |",
    ]
    notes = []
    for r in out["runs"]:
        share = f"{r['share']:.0%}"
        if "error" in r:
            notes.append(f"share {share} failed:\n{r['error']}")
            continue
        first, inc = r["first"], r["incremental"]
        lines.append(
            f"| first delivery ({share} held back), full | {first['records']:,} | | "
            f"{_cells(first)} | {first['quality']['f1']:.4f} | | |"
        )
        lines.append(
            f"| incremental, +{share} | {inc['records']:,} | {inc['new_records']:,} | "
            f"{_cells(inc)} | {inc['quality']['f1']:.4f} | {inc['against_full']['f1']:.4f} | "
            f"{inc['same_person_as_full']:.4%} ({inc['same_person_as_full_new']:.2%}) |"
        )
        notes.append(
            f"+{share}: incremental/full: time {inc['seconds'] / full['seconds']:.2f}x, CPU "
            f"{inc['cpu_seconds'] / full['cpu_seconds']:.2f}x, peak RSS "
            f"{inc['peak_rss_mib'] / full['peak_rss_mib']:.2f}x, pairs scored "
            f"{inc['pairs_scored'] / full['pairs_scored']:.3f}x; incremental "
            + ", ".join(f"{k} {v:.1f} s" for k, v in inc["link_seconds"].items())
            + "; full "
            + ", ".join(f"{k} {v:.1f} s" for k, v in full["link_seconds"].items())
        )
    return [*lines, "", *notes]


# -- the whole job -----------------------------------------------------------------------


def _job_row(label: str, r: dict[str, Any]) -> str:
    q = r["quality"]
    return (
        f"| {label} | {r['records']:,} | {r.get('new_records') or 0:,} | {_cells(r)} | "
        f"{q['precision']:.4f} | {q['recall']:.4f} | **{q['f1']:.4f}** |"
    )


def job_report(out: dict[str, Any]) -> list[str]:
    share = f"{out['share']:.0%}"
    failed = [
        f"{k} failed:\n{v['error']}" for k, v in out.items() if isinstance(v, dict) and "error" in v
    ]
    lines = [
        f"bronze: first delivery {out['landed']['rows']:,} records landed in "
        f"{out['landed']['seconds']:.1f} s"
        + (
            f"; later delivery ({share}) {out['landed_later']['rows']:,} in "
            f"{out['landed_later']['seconds']:.1f} s"
            if "rows" in out.get("landed_later", {})
            else ""
        ),
        "",
        "| run | records | new records | wall | CPU | peak RSS | pairs scored | precision "
        "| recall | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = (
        ("link() alone, first delivery", "link_alone"),
        ("job, full, first delivery", "job_full"),
        (f"job, incremental, +{share}", "job_incremental"),
        ("job, full, all records", "job_full_all"),
    )
    done = {key: out[key] for _, key in rows if key in out and "error" not in out[key]}
    lines += [_job_row(label, done[key]) for label, key in rows if key in done]
    if {"link_alone", "job_full"} <= done.keys():
        alone, full = done["link_alone"], done["job_full"]
        lines.append(
            f"\njob/link(): time {full['seconds'] / alone['seconds']:.2f}x "
            f"(+{full['seconds'] - alone['seconds']:.1f} s), CPU "
            f"{full['cpu_seconds'] / alone['cpu_seconds']:.2f}x, peak RSS "
            f"{full['peak_rss_mib'] / alone['peak_rss_mib']:.2f}x; link() alone read bronze "
            f"in {alone['read_bronze_seconds']:.1f} s before its call"
        )
    if {"job_incremental", "job_full_all"} <= done.keys():
        inc, full = done["job_incremental"], done["job_full_all"]
        lines.append(
            f"job incremental/full on all records: time {inc['seconds'] / full['seconds']:.2f}x, "
            f"CPU {inc['cpu_seconds'] / full['cpu_seconds']:.2f}x, "
            f"peak RSS {inc['peak_rss_mib'] / full['peak_rss_mib']:.2f}x, pairs scored "
            f"{inc['pairs_scored'] / full['pairs_scored']:.3f}x"
        )
    agreement = out.get("incremental_against_full", {})
    if "against" in agreement:
        lines.append(
            f"incremental against the full run after it: F1 {agreement['against']['f1']:.4f}, "
            f"same person {agreement['same_person']:.4%}, same key {agreement['same_key']:.4%} "
            f"of {agreement['records']:,} records"
        )
    for label, key in rows[1:]:
        if key not in done:
            continue
        r = done[key]
        lines += [
            "",
            f"{label}: {r['persons']:,} persons, key changes {r['key_changes']}, "
            f"{r['review_queued']:,} pairs queued for review"
            + (f", full because {r['full_because']}" if r["full_because"] else ""),
            "  steps (exclusive time, peak resident size):",
            *(
                f"  {p['phase']:<40} {p['seconds']:>8.1f} s  {p['seconds'] / r['seconds']:>4.0%}"
                f"  peak {p['peak_mib']:>6,} MiB"
                for p in r["phases"]
            ),
        ]
    return [*lines, *failed]


# -- entry point ---------------------------------------------------------------------------
