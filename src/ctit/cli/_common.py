"""What every command shares: how input problems, protocol errors, output errors and
unexpected internal errors reach the user (never as a Python traceback)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ctit.errors import InputError, Problem
from ctit.output import OutputError
from ctit.protocol import ProtocolError

# No emoji codes: ":x:" in a value stays ":x:".
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

EXIT_INPUT = 2
EXIT_FAILED = 1


def print_problems(problems: list[Problem], *, title: str) -> None:
    if not problems:
        return
    err_console.print(f"[bold]{title}[/bold]")
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        err_console.print(f"  [{style}]{p.severity}[/{style}] {escape(str(p))}", highlight=False, soft_wrap=True)


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
        err_console.print(f"[red]protocol error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT)
    except FileNotFoundError as exc:
        err_console.print(f"[red]error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT)
    except OutputError as exc:
        print_output_error(exc)


def print_output_error(exc: OutputError) -> None:
    """A folder refused before the run (exit 2) or a failed write (exit 1), one line."""
    err_console.print(f"[red]error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INPUT if exc.refused else EXIT_FAILED)


def _crash_log(exc: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a log file; its path, or None."""
    import tempfile
    import traceback
    from datetime import datetime, timezone

    from ctit import __version__

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = (f"ctit {__version__}, Python {sys.version.split()[0]}\n"
            f"command: {' '.join(sys.argv)}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    root = os.environ.get("CTIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ctit")
    for folder in (Path(root) / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"ctit-error-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


@contextmanager
def no_traceback() -> Iterator[None]:
    """Around every command: the tool's own errors as their messages, anything else as one
    line naming the log file that holds the traceback (exit 1)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.exceptions.TyperException, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - the one place every other error ends
        with input_errors_exit():
            if isinstance(exc, (InputError, ProtocolError, OutputError)):
                raise
        if isinstance(exc, OSError) and exc.errno is not None:
            # The system refused (permission, disk full, ...): its own words, no traceback.
            where = f": {os.fsdecode(exc.filename)}" if exc.filename else ""
            err_console.print(f"[red]error[/red] {escape((exc.strerror or str(exc)) + where)}",
                              highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
        log = _crash_log(exc)
        where = f"details in {log}" if log else "no log could be written"
        summary = " ".join(str(exc).split())[:200]
        err_console.print(f"[red]internal error[/red] {escape(type(exc).__name__)}: {escape(summary)} "
                          f"({escape(where)}); please report it", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None


class GuardedGroup(TyperGroup):
    """The `ctit` command group: every subcommand runs inside `no_traceback`."""

    def invoke(self, ctx: Any) -> Any:
        with no_traceback():
            return super().invoke(ctx)


ENGINE_HELP = "Engine: duckdb (default, in memory) or spark (local, or SPARK_REMOTE for Spark Connect)."
SPARK_CONF_HELP = "A Spark setting key=value (repeatable), e.g. spark.master=spark://host:7077."


def engine_connection(engine: str, spark_conf: list[str] | None) -> object | None:
    """The connection for `--engine`: None for DuckDB (the engine's own), else a Spark backend."""
    if engine == "duckdb" and not spark_conf:
        # The replayed plan needs no Ibis: importing it would cost a small study 0.3 s.
        return None
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

    import os

    root = Path(os.path.abspath(out))
    top, folders = [], Counter()
    for path in written:
        # Written paths may be absolute (after the staging folder is moved into place).
        p = Path(os.path.abspath(path))
        rel = p.relative_to(root) if p.is_relative_to(root) else p
        if len(rel.parts) > 1:
            folders[rel.parts[0]] += 1
        else:
            top.append(rel.name)
    parts = top + [f"{name}/ ({n} files)" for name, n in folders.items()]
    console.print(escape(f"Wrote to {out}: " + ", ".join(parts)), highlight=False)


def check_min_cell_count(min_cell_count: int | None) -> None:
    """`--min-cell-count`: None (no suppression) or a count of 1 or more."""
    if min_cell_count is not None and min_cell_count < 1:
        raise typer.BadParameter("give a count of 1 or more", param_hint="--min-cell-count")


def set_report_style(p_values: str, min_subgroup_n: int) -> None:
    """The report style options (`--p-values`, `--min-subgroup-n`), set before any figure
    worker starts: the workers inherit the style."""
    from ctit.reports.format import ReportStyle, set_style

    try:
        set_style(ReportStyle(p_values=p_values.strip().lower(), min_subgroup_n=min_subgroup_n))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


# Options every command that reads a study or a protocol shares, with one help text each.
PROTOCOL = typer.Option(None, "--protocol", help="Protocol YAML or bundled name (default: atra-ctit; "
                        "`ctit protocol list`).")
OVERRIDES = typer.Option(None, "--set", help="Override a protocol parameter: name=value.")
SOURCE = typer.Option("study", "--from", help="Input format: study (CSV/Parquet folder, .xlsx, DuckDB file), "
                      "sdtm, or omop (a DuckDB file, a CSV/Parquet folder, or with --engine spark "
                      "a database of the Spark catalogue).")
