"""Multi-task data: several independent label columns of the same rows (e.g. sentiment `label` and category `cat`).

Unlike a taxonomy, the columns do not nest: any combination may occur, and each gets its own head.
"""
from __future__ import annotations

import pandas as pd

from ecomtune.recipes.schema import DataConfig

INDEPENDENT = True  # each column is a head of its own (no path): rare labels and single labels are checked per head


def check_columns(data: DataConfig) -> None:
    if not data.label_columns or len(data.label_columns) < 2 or data.label_column or data.path_column:
        raise ValueError("`task: multitask` needs `data.label_columns` with 2 or more columns (one head each), "
                         "e.g. `label_columns: [label, cat]`")


def label_columns(data: DataConfig) -> list[str]:
    return list(data.label_columns)


def level_names(data: DataConfig, frame: pd.DataFrame | None = None) -> list[str]:
    """One "level" per head, named after its column."""
    return list(data.label_columns)


def extract_labels(frame: pd.DataFrame, data: DataConfig, levels: list[str] | None = None) -> pd.DataFrame:
    """One column per head, raw label strings, stripped."""
    return pd.DataFrame({c: frame[c].astype(str).str.strip() for c in data.label_columns}, index=frame.index)
