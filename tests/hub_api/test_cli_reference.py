"""The command-line reference generator: every visible command, and only the block between
its markers rewritten (``docs/reference/cli.md`` itself is checked in tests/test_docs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from hub_api.cli import app, cli_reference
from lmis_hub.errors import ConfigurationError


def root() -> Any:
    return typer.main.get_command(app)


def visible_commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    for name, child in (getattr(command, "commands", None) or {}).items():
        if not child.hidden:
            out += visible_commands(child, (*path, name))
    return out


def test_every_visible_command_has_a_section_and_hidden_ones_none() -> None:
    text = cli_reference.render(root())
    headings = {line.split("`")[1] for line in text.splitlines() if line.startswith("#")}
    expected = {" ".join(("lmis-hub", *path)) for path in visible_commands(root())}
    assert headings == expected
    assert "lmis-hub ingest quarantine" not in headings  # the hidden alias
    assert "lmis-hub config cli-reference" in headings


def test_a_command_shows_its_usage_options_and_defaults() -> None:
    text = cli_reference.render(root())
    section = text.split("### `lmis-hub audit tail`", 1)[1].split("\n### ", 1)[0]
    assert "Usage: `lmis-hub audit tail [OPTIONS]`" in section
    assert "| `-n <int>` | How many entries. [default: 20] |" in section
    assert "--help" not in section


def test_write_into_rewrites_only_the_block(tmp_path: Path) -> None:
    page = tmp_path / "cli.md"
    page.write_text(
        f"# intro kept\n\n{cli_reference.START}\nstale\n{cli_reference.END}\ntail kept\n",
        encoding="utf-8",
    )
    cli_reference.write_into(page, root())
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# intro kept\n\n")
    assert text.endswith(f"{cli_reference.END}\ntail kept\n")
    assert "stale" not in text
    assert cli_reference.block(page) == cli_reference.render(root())


def test_the_command_writes_the_block_and_refuses_a_file_without_one(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"HUB_DATA_DIR": str(tmp_path / "data")}
    page = tmp_path / "cli.md"
    page.write_text(f"{cli_reference.START}\n{cli_reference.END}\n", encoding="utf-8")
    done = runner.invoke(app, ["--json", "config", "cli-reference", "--write", str(page)], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"updated": str(page)}
    assert cli_reference.block(page) == cli_reference.render(root())

    plain = tmp_path / "plain.md"
    plain.write_text("no markers here\n", encoding="utf-8")
    refused = runner.invoke(app, ["config", "cli-reference", "--write", str(plain)], env=env)
    assert isinstance(refused.exception, ConfigurationError), refused.output
    assert refused.exception.code == "config.invalid"
    assert plain.read_text(encoding="utf-8") == "no markers here\n"


def test_json_gives_one_object_per_command_or_group() -> None:
    done = CliRunner().invoke(app, ["--json", "config", "cli-reference"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    names = [entry["command"] for entry in data]
    assert names[0] == "lmis-hub"
    assert "lmis-hub agreements sign" in names
    sign = data[names.index("lmis-hub agreements sign")]
    assert sign["group"] is False
    assert any(option["name"].startswith("--agency") for option in sign["options"])
