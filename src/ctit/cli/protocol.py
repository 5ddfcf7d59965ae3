"""`ctit protocol list` (the bundled library) and `ctit protocol show [NAME]` (the effective
parameters)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import OVERRIDES, PROTOCOL, console, input_errors_exit

protocol_app = typer.Typer(help="Inspect protocols.", no_args_is_help=True)
app.add_typer(protocol_app, name="protocol")


@protocol_app.command("list")
def list_protocols() -> None:
    """The protocols shipped with ctit: name, title, CTCAE version, categories and source."""
    from rich.table import Table

    from ctit.protocol import BUNDLED, load_protocol

    table = Table(title="Bundled protocols (use: --protocol NAME)", show_edge=False, show_lines=True)
    for col in ("name", "title", "CTCAE", "categories", "reference"):
        table.add_column(col)
    for name in BUNDLED:
        p = load_protocol(name)
        table.add_row(name, p.title, p.ctcae_version, ", ".join(r.category for r in p.response_rules),
                      p.reference)
    console.print(table)


@protocol_app.command("show")
def show(
    name: str = typer.Argument(None, metavar="[NAME]", help="A bundled protocol (ctit protocol list) or a "
                               "YAML file; default: atra-ctit."),
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
    as_yaml: bool = typer.Option(False, "--yaml", help="Print as YAML, ready to edit and pass back."),
) -> None:
    """Print every effective parameter, after the file and the --set overrides."""
    import yaml

    from ctit.protocol import load_protocol

    with input_errors_exit():
        p = load_protocol(protocol or name, set_)
    if as_yaml:
        typer.echo(yaml.safe_dump(p.as_dict(), sort_keys=False).rstrip())
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"Protocol {p.name} ({p.source})"), show_edge=False)
    table.add_column("parameter")
    table.add_column("value")
    for name, value in p.as_dict().items():
        table.add_row(name, escape(str(value)))
    console.print(table)
