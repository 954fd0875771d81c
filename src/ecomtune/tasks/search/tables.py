"""The search data containers and the table checks every search loader shares (judgments, query classes, the
fashion relevance set): `QuerySet`, `SearchData`, reading any table, required columns, empty values."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.data.readers import read_lines, read_table, resolve_path
from ecomtune.errors import DataError
from ecomtune.tasks.search.metrics import Judgments


@dataclass
class QuerySet:
    """Queries with what is relevant to each: `positives` (rows at gain >= relevant_min) and graded gains."""

    texts: list[str]
    positives: list[np.ndarray]
    relevant_min: list[float]
    grade: Callable[[int, np.ndarray], np.ndarray]  # (query index, catalogue rows) -> gains
    judged: Callable[[int], Judgments]  # every product with gain > 0 for query i (complete judgments)
    max_gain: float = 1.0

    def __len__(self) -> int:
        return len(self.texts)

    def judgments(self) -> list[Judgments]:
        return [self.judged(i) for i in range(len(self))]


@dataclass
class SearchData:
    """A catalogue and the train / test queries over it."""

    ids: list[str]
    texts: list[str]
    train: QuerySet
    test: QuerySet
    kind: str
    info: dict = field(default_factory=dict)
    keys: dict | None = None  # attributes format: the query keys of each split (disjoint)


def read_any(path: str | Path) -> pd.DataFrame:
    """`read_table`, plus TAB-separated files named `.csv` (WANDS ships its TSV as `query.csv`)."""
    path = resolve_path(str(path))
    if path.suffix.lower() == ".csv" and path.is_file():
        header = read_lines(path, limit=1)
        if header and header[0].count("\t") > header[0].count(","):
            return read_table(path, ".tsv")
    return read_table(path)


def require_columns(frame: pd.DataFrame, path, columns: dict[str, str]) -> None:
    """`columns` maps a column name to the recipe key that names it."""
    for column, key in columns.items():
        if column not in frame.columns:
            raise DataError(f"{path}: no column `{column}` (set by `{key}`) — columns are: "
                            f"{', '.join(map(str, frame.columns))}")


def _bad_row(path, index: int, column: str, problem: str, fix: str) -> DataError:
    return DataError(f"{path}: line {index + 2}, column `{column}`: {problem} — {fix}")


def check_nonempty(frame: pd.DataFrame, path, columns: list[str], bad_rows: str = "error") -> pd.DataFrame:
    """The frame without rows that have an empty value in `columns` (`bad_rows: drop`), or a DataError naming the
    first such row (`bad_rows: error`)."""
    keep = np.ones(len(frame), dtype=bool)
    for column in columns:
        empty = frame[column].astype(str).str.strip().to_numpy() == ""
        if empty.any() and bad_rows == "error":
            first = int(np.flatnonzero(empty)[0])
            raise _bad_row(path, first, column, f"empty value ({int(empty.sum())} such rows)",
                           "fill it in, remove those rows, or set `data.bad_rows: drop`")
        keep &= ~empty
    return frame if keep.all() else frame[keep]
