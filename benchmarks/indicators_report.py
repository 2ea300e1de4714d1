"""The tables :mod:`benchmarks.indicators` prints: the hub it measured, the package's
runs against the plain scan, each source table, the build's steps and each
definition's computation."""

from __future__ import annotations

from typing import Any

READ, INDICATOR = "read ", "indicator "


def _hub(out: dict[str, Any]) -> list[str]:
    hub = out["hub"]
    landing, linkage = hub["landing"], hub["linkage"]
    made = (
        "cached"
        if out["cached"]
        else f"made now: nation {hub['nation']['seconds']:,.0f} s, connectors to bronze "
        f"{landing['seconds']:,.0f} s, linkage {linkage['seconds']:,.0f} s"
    )
    datasets = ", ".join(
        f"{name} {d['records']:,}"
        for name, d in sorted(landing["datasets"].items(), key=lambda kv: -kv[1]["records"])
    )
    return [
        f"hub: {out['persons']:,} persons (seed {out['seed']}, 24 months) -> "
        f"{landing['records']:,} bronze records in {len(landing['datasets'])} tables; "
        f"linkage: {linkage['persons']:,} persons over {linkage['records']:,} records "
        f"({made})",
        f"  bronze: {datasets}",
    ]


def _run_row(label: str, r: dict[str, Any]) -> str:
    return (
        f"| {label} | {r['records']:,} | {r['seconds']:,.2f} s | {r['cpu_seconds']:,.1f} s | "
        f"{r['peak_rss_mib']:,} MiB ({r['rss_before_mib']:,} before) | "
        f"{r['records_per_s']:,} |"
    )


def _against(run: dict[str, Any], base: dict[str, Any]) -> str:
    """The ratios of a run's figures to the baseline's."""
    return (
        f"time **{run['seconds'] / base['seconds']:.1f}x**, CPU "
        f"{run['cpu_seconds'] / max(base['cpu_seconds'], 0.1):.1f}x, peak RSS "
        f"{run['peak_rss_mib'] / base['peak_rss_mib']:.2f}x"
    )


def _runs(out: dict[str, Any]) -> list[str]:
    rows = (
        ("plain DuckDB read of the source files (baseline)", "plain_scan"),
        ("build (read, compute, gold write, record)", "build"),
        ("compute only (tables in memory)", "compute"),
        ("publish (SDMX files, signed manifest)", "publish"),
    )
    done = {k: out[k] for _, k in rows if k in out and "error" not in out[k]}
    lines = [
        "| run | rows | wall | CPU | peak RSS | rows/s |",
        "|---|---:|---:|---:|---:|---:|",
        *(_run_row(label, done[k]) for label, k in rows if k in done),
    ]
    base = done.get("plain_scan")
    if base is not None and "build" in done:
        build = done["build"]
        lines += [
            "",
            f"build/plain scan: {_against(build, base)}; {build['indicators']} indicators, "
            f"{build['observations']:,} observations, release {build['release']}"
            + (f", withheld {build['withheld']}" if build["withheld"] else ""),
        ]
        if build["snapshots"] != out["snapshots"]:
            lines.append("NOTE: the build read other snapshots than the plain scan")
    if base is not None and "compute" in done:
        comp = done["compute"]
        lines.append(
            f"compute only/plain scan: {_against(comp, base)} (reading its input first "
            f"took {comp['read_seconds']:.1f} s, not counted)"
        )
    if "publish" in done:
        pub = done["publish"]
        lines.append(
            f"publish: {pub['files']} files, {pub['mb']:.1f} MB"
            + (f", withheld {pub['withheld']}" if pub["withheld"] else "")
            + "; "
            + ", ".join(f"{p['phase']} {p['seconds']:.2f} s" for p in pub["phases"])
        )
    return lines


def _tables(out: dict[str, Any]) -> list[str]:
    base = out.get("plain_scan", {})
    build = out.get("build", {})
    if "tables" not in base:
        return []
    seconds = {p["phase"]: p["seconds"] for p in build.get("phases", [])}
    lines = [
        "",
        "| source table | rows | columns | files | MB | plain scan, rows/s | "
        "package read (pyiceberg, one row per record id), rows/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in base["tables"].items():
        read = seconds.get(READ + name)
        package = f"{build['rows'][READ + name] / read:,.0f} ({read:.2f} s)" if read else "not read"
        lines.append(
            f"| {name} | {t['rows']:,} | {t['columns']} | {t['files']} | {t['mb']:,.1f} | "
            f"{t['rows'] / max(t['seconds'], 1e-6):,.0f} ({t['seconds']:.2f} s) | {package} |"
        )
    return lines


def _build_steps(build: dict[str, Any]) -> list[str]:
    if "phases" not in build:
        return []
    total = build["seconds"]
    grouped: dict[str, list[float]] = {}
    for p in build["phases"]:
        label = p["phase"]
        if label.startswith(READ):
            label = "read sources: each table"
        elif label.startswith(INDICATOR):
            label = "compute: each definition"
        seconds, peak = grouped.get(label, [0.0, 0.0])
        grouped[label] = [seconds + p["seconds"], max(peak, p["peak_mib"])]
    return [
        "",
        "build steps (exclusive time, highest resident size seen):",
        *(
            f"  {label:<40} {s:>8.2f} s  {s / total:>4.0%}  peak {int(peak):>6,} MiB"
            for label, (s, peak) in sorted(grouped.items(), key=lambda kv: -kv[1][0])
        ),
    ]


def _definitions(comp: dict[str, Any]) -> list[str]:
    if "phases" not in comp:
        return []
    per = [p for p in comp["phases"] if p["phase"].startswith(INDICATOR)]
    total = sum(p["seconds"] for p in per)
    lines = [
        "",
        f"per definition (compute only, slowest first; {len(per)} definitions, "
        f"{total:.2f} s in all):",
        "",
        "| indicator | sources | input rows | seconds | share | observations | peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(per, key=lambda p: -p["seconds"]):
        label = p["phase"]
        indicator = label.removeprefix(INDICATOR)
        sources = ", ".join(s.split(".", 1)[1] for s in comp["sources"][indicator])
        lines.append(
            f"| {indicator} | {sources} | {comp['input_rows'][indicator]:,} | "
            f"{p['seconds']:.2f} | {p['seconds'] / total:.0%} | {comp['rows'][label]:,} | "
            f"{p['peak_mib']:,} MiB |"
        )
    return lines


def report(out: dict[str, Any]) -> list[str]:
    failed = [
        f"{k} failed:\n{v['error']}" for k, v in out.items() if isinstance(v, dict) and "error" in v
    ]
    return [
        *_hub(out),
        "",
        *_runs(out),
        *_tables(out),
        *_build_steps(out.get("build", {})),
        *_definitions(out.get("compute", {})),
        *failed,
    ]
