"""The `ctit` command. Each subcommand lives in its own module and imports heavy
libraries (ibis, pandas, matplotlib) inside the command, so `ctit --help` stays instant."""

from __future__ import annotations

import typer

from ctit.cli._common import GuardedGroup

app = typer.Typer(
    cls=GuardedGroup,
    name="ctit",
    help="Cancer therapy-induced thrombocytopenia: CTCAE v5.0/v6.0 grading, protocol-defined "
         "response, statistics and reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _show_version(value: bool) -> None:
    if value:
        from ctit import __version__

        typer.echo(f"ctit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", help="Show the version and exit.",
                                 is_eager=True, callback=_show_version),
) -> None:
    """ctit: the ATRA-for-CTIT study method as software."""


from ctit.cli import commands  # noqa: E402,F401  (registers the subcommands)
