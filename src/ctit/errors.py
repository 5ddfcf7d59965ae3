"""Input problems: every one names its table, row, column and value.

Readers collect problems instead of stopping at the first, so a user fixes a file in one pass.
Errors stop the run before any analysis; warnings are listed in the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One problem in the input, located as precisely as the input allows.

    `row` is the row number as a spreadsheet shows it (header = row 1); None when the
    problem concerns a whole table or column.
    """

    table: str
    message: str
    row: int | None = None
    column: str | None = None
    value: Any = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = [self.table]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where)
        if self.value is not None:
            text += f", value {self.value!r}"
        return f"{text}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if value is not None and not isinstance(value, (str, int, float, bool)):
            value = str(value)
        return {
            "severity": self.severity,
            "table": self.table,
            "row": self.row,
            "column": self.column,
            "value": value,
            "message": self.message,
        }


@dataclass
class InputError(Exception):
    """Raised when the input has at least one error-level problem; carries all of them."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def __str__(self) -> str:
        errors = self.errors
        head = f"{len(errors)} input error{'s' if len(errors) != 1 else ''}"
        return head + ":\n" + "\n".join(f"  - {p}" for p in errors)


class ProblemLog:
    """Collects problems while a reader walks the input."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, table: str, message: str, row: int | None = None,
              column: str | None = None, value: Any = None) -> None:
        self.problems.append(Problem(table, message, row, column, value, "error"))

    def warn(self, table: str, message: str, row: int | None = None,
             column: str | None = None, value: Any = None) -> None:
        self.problems.append(Problem(table, message, row, column, value, "warning"))

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def raise_if_errors(self) -> None:
        raise_if_errors(self.problems)


def raise_if_errors(problems: list[Problem]) -> None:
    """Stop with every problem (warnings included, for the listing) when one is an error."""
    if any(p.severity == "error" for p in problems):
        raise InputError(list(problems))
