"""What every command shares: how input problems and protocol errors reach the user."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console

from ctit.errors import InputError, Problem
from ctit.protocol import ProtocolError

console = Console()
err_console = Console(stderr=True)

EXIT_INPUT = 2


def print_problems(problems: list[Problem], *, title: str) -> None:
    if not problems:
        return
    err_console.print(f"[bold]{title}[/bold]")
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        err_console.print(f"  [{style}]{p.severity}[/{style}] {p}", highlight=False, soft_wrap=True)


@contextmanager
def input_errors_exit() -> Iterator[None]:
    """Turn bad input into a precise listing on stderr and exit code 2."""
    try:
        yield
    except InputError as exc:
        print_problems(exc.errors, title=f"Input errors ({len(exc.errors)}); nothing was written.")
        warnings = [p for p in exc.problems if p.severity == "warning"]
        print_problems(warnings, title=f"Warnings ({len(warnings)})")
        raise typer.Exit(EXIT_INPUT)
    except ProtocolError as exc:
        err_console.print(f"[red]protocol error[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_INPUT)
    except FileNotFoundError as exc:
        err_console.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_INPUT)


ENGINE_HELP = "Engine: duckdb (default, in memory) or spark (local, or SPARK_REMOTE for Spark Connect)."
SPARK_CONF_HELP = "A Spark setting key=value (repeatable), e.g. spark.master=spark://host:7077."


def engine_connection(engine: str, spark_conf: list[str] | None) -> object | None:
    """The connection for `--engine`: None for DuckDB (the engine's own), else a Spark backend."""
    from ctit.engine.backend import ENGINES, connect, parse_conf

    if engine not in ENGINES:
        raise typer.BadParameter(f"choose one of: {', '.join(ENGINES)}", param_hint="--engine")
    try:
        conf = parse_conf(spark_conf)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--spark-conf") from exc
    if engine == "duckdb":
        if conf:
            raise typer.BadParameter("only with --engine spark", param_hint="--spark-conf")
        return None
    return connect(engine, conf)


def print_written(out: Path, written: list[Path]) -> None:
    """One line for the files a command wrote: those in OUT by name, sub-folders by count."""
    from collections import Counter

    out = Path(out)
    top, folders = [], Counter()
    for path in written:
        rel = Path(path).relative_to(out) if Path(path).is_relative_to(out) else Path(path)
        if len(rel.parts) > 1:
            folders[rel.parts[0]] += 1
        else:
            top.append(rel.name)
    parts = top + [f"{name}/ ({n} files)" for name, n in folders.items()]
    console.print(f"Wrote to {out}: " + ", ".join(parts), highlight=False)
