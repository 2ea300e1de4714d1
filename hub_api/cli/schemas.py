"""`lmis-hub schemas …`: the data contracts — list, check, show, fingerprint, codebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from hub_api.cli.context import get_context
from lmis_hub.errors import ConfigurationError
from schemas.catalog import SchemaCatalog
from schemas.codebook import type_label, write_codebook
from schemas.codelists import CodeLists
from schemas.compatibility import check_catalog
from schemas.errors import IncompatibleSchema, InvalidSchema

app = typer.Typer(help="Data contracts: Avro schemas, compatibility and the codebook.")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List every dataset with its versions, topic and compatibility mode."""
    cli = get_context(ctx)
    catalog = cli.catalog()
    data: list[dict[str, Any]] = []
    for key in catalog.datasets():
        agency, dataset = key.split("/")
        versions = catalog.versions(agency, dataset)
        data.append(
            {
                "agency": agency,
                "dataset": dataset,
                "versions": [v.version for v in versions],
                "current_fingerprint": versions[-1].fingerprint_hex,
                "topic": versions[-1].topic,
                "mode": catalog.mode(agency, dataset),
                "fields": len(versions[-1].fields),
            }
        )

    def render(console: Console) -> None:
        table = Table("agency", "dataset", "versions", "fingerprint", "topic", "mode", "fields")
        for row in data:
            table.add_row(
                row["agency"],
                row["dataset"],
                ",".join(f"v{v}" for v in row["versions"]),
                row["current_fingerprint"],
                row["topic"],
                row["mode"],
                str(row["fields"]),
            )
        console.print(table)

    cli.emit(data, render)


@app.command()
def check(
    ctx: typer.Context,
    root: Path | None = typer.Option(
        None, "--root", help="A schema folder to check instead of the packaged one."
    ),
) -> None:
    """Check every dataset's versions against its compatibility mode (exit 2 on a break)."""
    cli = get_context(ctx)
    if root is not None and not root.is_dir():
        raise ConfigurationError(f"--root: {root} is not a folder of schemas")
    catalog = SchemaCatalog.load(root) if root is not None else cli.catalog()
    problems = check_catalog(catalog)
    data = {
        "datasets": len(catalog.datasets()),
        "versions": sum(1 for _ in catalog),
        "incompatibilities": [
            {
                "dataset": p.dataset,
                "version": p.version,
                "other_version": p.other_version,
                "direction": p.direction,
                "field": p.problem.path,
                "rule": p.problem.rule,
                "message": str(p),
            }
            for p in problems
        ],
    }
    if problems:
        raise IncompatibleSchema("; ".join(str(p) for p in problems))
    cli.emit(
        data,
        lambda c: c.print(
            f"{data['datasets']} datasets, {data['versions']} versions: all compatible"
        ),
    )


@app.command()
def show(
    ctx: typer.Context,
    agency: str = typer.Argument(..., help="Agency code, e.g. nso."),
    dataset: str = typer.Argument(..., help="Dataset name, e.g. lfs_person."),
    version: int | None = typer.Option(None, "--version", help="Version (default: current)."),
) -> None:
    """Show one schema version: its fields, or with --json the .avsc itself."""
    cli = get_context(ctx)
    sv = cli.catalog().get(agency, dataset, version)

    def render(console: Console) -> None:
        console.print(
            f"[bold]{sv.key} v{sv.version}[/] fingerprint {sv.fingerprint_hex} topic {sv.topic}"
        )
        console.print(str(sv.raw["doc"]))
        table = Table("field", "type", "codes", "doc")
        for f in sv.fields:
            codes = f.get("codelist") or (f"token {f['token']}" if "token" in f else "")
            table.add_row(f["name"], type_label(f["type"]), codes, f["doc"])
        console.print(table)

    cli.emit(dict(sv.raw), render)


@app.command()
def fingerprint(
    ctx: typer.Context,
    path: Path | None = typer.Argument(
        None, help="An .avsc file to fingerprint; default: every schema in the catalog."
    ),
) -> None:
    """Print CRC-64-AVRO fingerprints (16 hex digits, wire byte order)."""
    from schemas.fingerprint import canonical_form, fingerprint_hex
    from schemas.fingerprint import fingerprint as compute

    cli = get_context(ctx)
    if path is not None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            data = [
                {
                    "schema": str(path),
                    "fingerprint": fingerprint_hex(compute(raw)),
                    "canonical_form": canonical_form(raw),
                }
            ]
        except OSError as exc:
            raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from exc
        except (ValueError, KeyError, TypeError) as exc:  # not JSON, or JSON but no schema
            raise InvalidSchema(f"{path}: not an Avro schema ({exc!r})") from exc
    else:
        data = [
            {"schema": f"{sv.key} v{sv.version}", "fingerprint": sv.fingerprint_hex}
            for sv in cli.catalog()
        ]

    def render(console: Console) -> None:
        for row in data:
            console.print(f"{row['fingerprint']}  {row['schema']}")

    cli.emit(data, render)


@app.command()
def codebook(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder to write the codebook into."),
) -> None:
    """Write the data dictionary (Markdown and HTML) of every dataset and code list."""
    cli = get_context(ctx)
    try:
        files = write_codebook(cli.catalog(), CodeLists.packaged(), out)
    except OSError as exc:
        raise ConfigurationError(
            f"--out: cannot write the codebook into {out} ({exc.strerror})"
        ) from exc
    data = {"out": str(out), "files": len(files)}
    cli.emit(data, lambda c: c.print(f"wrote {len(files)} files into {out}"))
