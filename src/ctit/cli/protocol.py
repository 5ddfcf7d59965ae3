"""`ctit protocol show`: the effective protocol parameters."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import console, input_errors_exit

protocol_app = typer.Typer(help="Inspect protocols.", no_args_is_help=True)
app.add_typer(protocol_app, name="protocol")


@protocol_app.command("show")
def show(
    protocol: Path = typer.Option(None, "--protocol", help="Protocol YAML (default: atra-ctit)."),
    set_: list[str] = typer.Option(None, "--set", help="Override a protocol parameter: name=value."),
    as_yaml: bool = typer.Option(False, "--yaml", help="Print as YAML, ready to edit and pass back."),
) -> None:
    """Print every effective parameter, after the file and the --set overrides."""
    import yaml

    from ctit.protocol import load_protocol

    with input_errors_exit():
        p = load_protocol(protocol, set_)
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
