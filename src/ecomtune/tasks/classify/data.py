"""Flat classification data: one label column (sentiment, star rating, product category)."""
from __future__ import annotations

import pandas as pd

from ecomtune.recipes.schema import DataConfig


def check_columns(data: DataConfig) -> None:
    if not data.label_column:
        raise ValueError("`data.label_column` is required for `task: classify` — e.g. `label_column: label`")
    if data.label_columns or data.path_column:
        raise ValueError("`data.label_columns` / `data.path_column` are for `task: taxonomy` — use `data.label_column`")


def label_columns(data: DataConfig) -> list[str]:
    """Columns of the input table that carry labels."""
    return [data.label_column]


def level_names(data: DataConfig, frame: pd.DataFrame | None = None) -> list[str]:
    return [data.label_column]


def extract_labels(frame: pd.DataFrame, data: DataConfig, levels: list[str] | None = None) -> pd.DataFrame:
    """One column per level, raw label strings, stripped."""
    return pd.DataFrame({data.label_column: frame[data.label_column].astype(str).str.strip()}, index=frame.index)
