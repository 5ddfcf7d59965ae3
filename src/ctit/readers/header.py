"""Which row is the header (data contract, "Bad input"): hospital exports often put a title
row (merged across the columns) above the header, or write names as `Patient ID`.

`locate_header` looks at the first rows of a table and takes as header the first row that
names the most contract columns; rows above it are reported once as a title and not read.
Header cells that name a contract column in another spelling (`Patient ID`, `Start-Day`,
full-width letters) are read as that column, with one warning listing them.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from ctit.errors import ProblemLog
from ctit.study import CANONICAL_COLUMNS

Record = tuple[int, list[Any]]
LOOK_AHEAD = 10   # a title block is a few rows; the header is within the first ten


def header_key(text: Any) -> str:
    """A header cell as a column name: full-width folded, case, spaces and hyphens ignored."""
    if text is None:
        return ""
    key = unicodedata.normalize("NFKC", str(text)).strip().lower()
    return re.sub(r"[\s\-]+", "_", key)


def known_columns(table: str) -> set[str]:
    """The contract's column names of a table, day and date forms both."""
    from ctit.readers.timeline import TIME_COLUMNS

    names = set(CANONICAL_COLUMNS.get(table, {})) - {"source_row"}
    for pair in TIME_COLUMNS.get(table, ()):
        names.update(pair)
    return names


def _score(cells: list[Any], known: set[str]) -> int:
    return sum(header_key(c) in known for c in cells)


def locate_header(records: Iterable[Record], table: str, log: ProblemLog) -> Iterator[Record]:
    """The records from the header row on, the header's cells in contract spelling."""
    it = iter(records)
    head = list(itertools.islice(it, LOOK_AHEAD))
    known = known_columns(table)
    filled = [i for i, (_, cells) in enumerate(head) if any(c is not None and str(c).strip() for c in cells)]
    if not filled or not known:
        return itertools.chain(head, it)
    scores = [_score(head[i][1], known) for i in filled]
    best = filled[scores.index(max(scores))]
    first = filled[0]
    if best != first and max(scores) >= 2 and scores[0] < max(scores):
        number, title_cells = head[first]
        title = next((str(c).strip() for c in title_cells if c is not None and str(c).strip()), "")
        header_row = head[best][0]
        above = f"row {number} is" if header_row - 1 == number else f"rows {number}-{header_row - 1} are"
        log.warn(table, f"row {number} looks like a title, not a header; the header seems to be row "
                 f"{header_row} (it names {max(scores)} of the table's columns), so {above} not read",
                 row=number, value=title or None)
        head = head[best:]
    else:
        head = head[first:]
    number, cells = head[0]
    renamed = []
    spelled = []
    for c in cells:
        key = header_key(c)
        if c is not None and key in known and str(c).strip().lower() != key:
            renamed.append(f"{str(c).strip()!r} as {key!r}")
            spelled.append(key)
        else:
            spelled.append(c)
    if renamed:
        log.warn(table, "header cells read as contract columns: " + ", ".join(renamed), row=number)
    return itertools.chain([(number, spelled)], head[1:], it)
